import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonError, OfflineError } from "../src/errors";
import { Transport, canvasUrl, withQuery } from "../src/transport";
import { canvas, Daemon, freePort, RED_NODE, SKIP_REASON, titled } from "./daemon";

describe("URLs", () => {
	it("percent-encodes each path segment and query value", () => {
		expect(canvasUrl("my vault", "数学/a b#.canvas")).toBe("/v1/vaults/my%20vault/canvases/%E6%95%B0%E5%AD%A6/a%20b%23.canvas");
		expect(withQuery("/v1/search", { q: "a&b", limit: 20, vault: undefined })).toBe("/v1/search?q=a%26b&limit=20");
	});
});

describe.skipIf(SKIP_REASON !== null)(titled("transport against a real daemon"), () => {
	let daemon: Daemon;
	let port: number;

	beforeAll(async () => {
		port = await freePort();
		daemon = await new Daemon({ config: { http: { tcp_port: port } }, canvases: { "A.canvas": canvas(RED_NODE) } }).start();
	});
	afterAll(async () => {
		await daemon.dispose();
	});

	const unix = (): Transport => new Transport(() => Promise.resolve({ kind: "unix", socketPath: daemon.socket, source: "setting" }));

	it("GET /v1/health over the Unix socket", async () => {
		const health = await unix().get<{ status: string; pid: number }>("/v1/health");
		expect(health.status).toBe("ok");
		expect(typeof health.pid).toBe("number");
	});

	it("surfaces the daemon's JSON error message", async () => {
		const error = await unix().get("/v1/vaults/nope/canvases").catch((e: unknown) => e);
		expect(error).toBeInstanceOf(DaemonError);
		const daemonError = error as DaemonError;
		expect(daemonError.status).toBe(404);
		expect(daemonError.code).toBe("vault_not_found");
		expect(daemonError.message).toContain("no vault named 'nope'");
	});

	it("a PATCH with a stale If-Match is refused with 412", async () => {
		const transport = unix();
		const url = canvasUrl(daemon.vault, "A.canvas");
		const read = await transport.call<string>("GET", url);
		expect(read.status).toBe(200);
		expect(read.headers.etag).toBeTruthy();
		const error = await transport.call("PATCH", url, {
			headers: { "if-match": '"0000stale"' },
			body: { ops: [{ op: "update_node", id: "a", set: { color: "4" } }] },
		}).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(DaemonError);
		expect((error as DaemonError).status).toBe(412);
		expect((error as DaemonError).code).toBe("version_conflict");
		// With the current version it goes through.
		const ok = await transport.call<{ version: string }>("PATCH", url, {
			headers: { "if-match": String(read.headers.etag) },
			body: { ops: [{ op: "update_node", id: "a", set: { color: "4" } }] },
		});
		expect(ok.status).toBe(200);
		expect(ok.body.version).not.toBe(String(read.headers.etag).replace(/"/g, ""));
	});

	it("TCP mode sends the bearer token from the token file", async () => {
		const token = readFileSync(join(daemon.dataDir, "token"), "utf8").trim();
		const tcp = new Transport(() => Promise.resolve({ kind: "tcp", port, token, source: "setting" }));
		expect((await tcp.get<{ status: string }>("/v1/health")).status).toBe("ok");
		const wrong = new Transport(() => Promise.resolve({ kind: "tcp", port, token: "wrong", source: "setting" }));
		const error = await wrong.get("/v1/health").catch((e: unknown) => e);
		expect(error).toBeInstanceOf(DaemonError);
		expect((error as DaemonError).status).toBe(401);
		expect((error as DaemonError).message).toContain("Bearer");
	});

	it("no daemon on the socket is an OfflineError", async () => {
		const gone = new Transport(() => Promise.resolve({ kind: "unix", socketPath: join(daemon.root, "none.sock"), source: "setting" }));
		const error = await gone.get("/v1/health").catch((e: unknown) => e);
		expect(error).toBeInstanceOf(OfflineError);
		expect((error as OfflineError).message).toContain("canvasd is not running");
	});
});
