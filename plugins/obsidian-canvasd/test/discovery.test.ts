import { mkdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultSocket, discoveryFiles, readDiscovery, resolveEndpoint, type Machine } from "../src/discovery";
import { SetupError } from "../src/errors";
import { DEFAULT_SETTINGS, mergeSettings, type CanvasdSettings } from "../src/settings";
import { tempDir } from "./daemon";

const LIVE = 4242;
const DEAD = 4343;

/** A machine whose home and data folders are in a temporary folder; only pid LIVE is alive. */
function machine(overrides: Partial<Machine> = {}): Machine & { root: string } {
	const root = tempDir("cvd-disc-");
	return {
		root,
		env: {},
		home: join(root, "home"),
		platform: "linux",
		uid: 1000,
		readFile: (path) => readFile(path, "utf8").catch(() => null),
		isAlive: (pid) => pid === LIVE,
		...overrides,
	};
}

function writeDiscovery(dir: string, socket: string, extra: Record<string, unknown> = {}): void {
	mkdirSync(join(dir, "canvasd"), { recursive: true });
	writeFileSync(join(dir, "canvasd", "daemon.json"),
		JSON.stringify({ socket, tcp_port: null, token_file: null, pid: LIVE, version: "0.1.0", started: 1, ...extra }));
}

const settings = (over: Partial<CanvasdSettings> = {}): CanvasdSettings => ({ ...DEFAULT_SETTINGS, ...over });

describe("endpoint resolution", () => {
	it("the socket setting wins over everything", async () => {
		const m = machine();
		m.env = { XDG_DATA_HOME: join(m.root, "xdg") };
		writeDiscovery(join(m.root, "xdg"), "/from/discovery.sock");
		expect(await resolveEndpoint(settings({ socketPath: "/set/by/user.sock" }), m))
			.toEqual({ kind: "unix", socketPath: "/set/by/user.sock", source: "setting" });
	});

	it("then $XDG_DATA_HOME/canvasd/daemon.json", async () => {
		const m = machine();
		m.env = { XDG_DATA_HOME: join(m.root, "xdg"), XDG_RUNTIME_DIR: "/run/user/1000" };
		writeDiscovery(join(m.root, "xdg"), "/xdg.sock");
		writeDiscovery(join(m.home, ".local", "share"), "/local-share.sock");
		expect(await resolveEndpoint(settings(), m)).toEqual({ kind: "unix", socketPath: "/xdg.sock", source: "discovery" });
	});

	it("then ~/.local/share/canvasd/daemon.json (also when $XDG_DATA_HOME has none)", async () => {
		const m = machine();
		m.env = { XDG_DATA_HOME: join(m.root, "empty-xdg") };
		writeDiscovery(join(m.home, ".local", "share"), "/local-share.sock");
		expect((await resolveEndpoint(settings(), m))).toMatchObject({ socketPath: "/local-share.sock", source: "discovery" });
	});

	it("then, on macOS, ~/Library/Application Support/canvasd/daemon.json", async () => {
		const m = machine({ platform: "darwin" });
		writeDiscovery(join(m.home, "Library", "Application Support"), "/mac.sock");
		expect(discoveryFiles(m).at(-1)).toBe(join(m.home, "Library", "Application Support", "canvasd", "daemon.json"));
		expect(await resolveEndpoint(settings(), m)).toMatchObject({ socketPath: "/mac.sock", source: "discovery" });
		// Not on Linux.
		const linux = machine({ platform: "linux", home: m.home });
		expect(await resolveEndpoint(settings(), linux)).toMatchObject({ source: "default" });
	});

	it("skips a discovery file left by a dead daemon, or one that is not valid", async () => {
		const m = machine();
		m.env = { XDG_DATA_HOME: join(m.root, "xdg"), XDG_RUNTIME_DIR: "/run/user/1000" };
		writeDiscovery(join(m.root, "xdg"), "/dead.sock", { pid: DEAD });
		mkdirSync(join(m.home, ".local", "share", "canvasd"), { recursive: true });
		writeFileSync(join(m.home, ".local", "share", "canvasd", "daemon.json"), "{not json");
		expect(await readDiscovery(m)).toBeNull();
		expect(await resolveEndpoint(settings(), m)).toEqual({ kind: "unix", socketPath: "/run/user/1000/canvasd/canvasd.sock", source: "default" });
	});

	it("else the default socket: $XDG_RUNTIME_DIR, else $TMPDIR/canvasd-<uid>", () => {
		expect(defaultSocket(machine({ env: { XDG_RUNTIME_DIR: "/run/user/1000/" } }))).toBe("/run/user/1000/canvasd/canvasd.sock");
		expect(defaultSocket(machine({ env: { TMPDIR: "/var/folders/xy/T/" }, uid: 501 }))).toBe("/var/folders/xy/T/canvasd-501/canvasd.sock");
		expect(defaultSocket(machine({ env: {}, uid: 7 }))).toBe("/tmp/canvasd-7/canvasd.sock");
	});

	it("TCP: the port setting with the token from the token file setting, else the discovery file's", async () => {
		const m = machine();
		const tokenFile = join(m.root, "token");
		writeFileSync(tokenFile, "s3cret\n");
		expect(await resolveEndpoint(settings({ tcpPort: 8765, tokenFile }), m))
			.toEqual({ kind: "tcp", port: 8765, token: "s3cret", source: "setting" });

		m.env = { XDG_DATA_HOME: join(m.root, "xdg") };
		writeDiscovery(join(m.root, "xdg"), "/xdg.sock", { tcp_port: 8765, token_file: tokenFile });
		expect(await resolveEndpoint(settings({ tcpPort: 8765 }), m)).toMatchObject({ kind: "tcp", token: "s3cret", source: "discovery" });
		// A port in the discovery file alone does not switch to TCP: the socket needs no token.
		expect(await resolveEndpoint(settings(), m)).toMatchObject({ kind: "unix", socketPath: "/xdg.sock" });
	});

	it("TCP without any token file is a setup error that says what to set", async () => {
		await expect(resolveEndpoint(settings({ tcpPort: 8765 }), machine())).rejects.toThrow(SetupError);
		await expect(resolveEndpoint(settings({ tcpPort: 8765 }), machine())).rejects.toThrow(/token file/);
	});
});

describe("settings", () => {
	it("merges saved values over the defaults, dropping bad ones", () => {
		expect(mergeSettings(null)).toEqual(DEFAULT_SETTINGS);
		expect(mergeSettings({ socketPath: " /s.sock ", tcpPort: "8080", vaultName: "v", extra: 1 }))
			.toEqual({ ...DEFAULT_SETTINGS, socketPath: "/s.sock", tcpPort: 8080, vaultName: "v" });
		expect(mergeSettings({ tcpPort: 70000, tokenFile: 3 })).toEqual(DEFAULT_SETTINGS);
	});
});
