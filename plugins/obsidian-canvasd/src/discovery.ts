import type { CanvasdSettings } from "./settings";
import { SetupError } from "./errors";
import { nodeModules } from "./node";

/** Where the daemon listens, and why the client thinks so. */
export type Endpoint =
	| { kind: "unix"; socketPath: string; source: Source }
	| { kind: "tcp"; port: number; token: string; source: Source };

type Source = "setting" | "discovery" | "default";

/** What the daemon writes in `data_dir/daemon.json` once its API answers. */
export interface Discovery {
	socket: string;
	tcp_port: number | null;
	token_file: string | null;
	pid: number;
	version: string;
}

/** The parts of the process the resolution reads; injected so tests can describe any machine. */
export interface Machine {
	env: Readonly<Record<string, string | undefined>>;
	home: string;
	platform: string;
	uid: number;
	/** The file's text, or null when it does not exist or cannot be read. */
	readFile(path: string): Promise<string | null>;
	/** Whether a process with this pid exists (a killed daemon leaves its discovery file behind). */
	isAlive(pid: number): boolean;
}

const SOCKET_NAME = "canvasd.sock";
const DISCOVERY_NAME = "daemon.json";

function join(...parts: string[]): string {
	return parts.map((part, i) => (i === 0 ? part.replace(/\/+$/, "") : part.replace(/^\/+|\/+$/g, ""))).join("/");
}

function set(value: string | undefined): value is string {
	return value !== undefined && value !== "";
}

/** The discovery files to try, in order: $XDG_DATA_HOME, ~/.local/share, then (macOS) Application Support. */
export function discoveryFiles(machine: Machine): string[] {
	const files: string[] = [];
	const dataHome = machine.env.XDG_DATA_HOME;
	if (set(dataHome)) files.push(join(dataHome, "canvasd", DISCOVERY_NAME));
	files.push(join(machine.home, ".local", "share", "canvasd", DISCOVERY_NAME));
	if (machine.platform === "darwin") files.push(join(machine.home, "Library", "Application Support", "canvasd", DISCOVERY_NAME));
	return [...new Set(files)];
}

/** The daemon's default socket: $XDG_RUNTIME_DIR/canvasd/canvasd.sock, else $TMPDIR/canvasd-<uid>/canvasd.sock. */
export function defaultSocket(machine: Machine): string {
	const runtime = machine.env.XDG_RUNTIME_DIR;
	if (set(runtime)) return join(runtime, "canvasd", SOCKET_NAME);
	const { TMPDIR, TMP, TEMP } = machine.env;
	const temp = [TMPDIR, TMP, TEMP].find(set) ?? "/tmp";
	return join(temp, `canvasd-${machine.uid}`, SOCKET_NAME);
}

/** A discovery file's content, or null when it is not one. */
export function parseDiscovery(text: string): Discovery | null {
	let raw: unknown;
	try {
		raw = JSON.parse(text);
	} catch {
		return null;
	}
	if (typeof raw !== "object" || raw === null) return null;
	const data = raw as Record<string, unknown>;
	if (typeof data.socket !== "string" || data.socket === "") return null;
	const port = data.tcp_port;
	const tokenFile = data.token_file;
	return {
		socket: data.socket,
		tcp_port: typeof port === "number" && Number.isInteger(port) && port > 0 ? port : null,
		token_file: typeof tokenFile === "string" && tokenFile !== "" ? tokenFile : null,
		pid: typeof data.pid === "number" ? data.pid : 0,
		version: typeof data.version === "string" ? data.version : "",
	};
}

/** The first discovery file that is valid and whose daemon is still alive, or null. */
export async function readDiscovery(machine: Machine): Promise<Discovery | null> {
	for (const file of discoveryFiles(machine)) {
		const text = await machine.readFile(file);
		if (text === null) continue;
		const discovery = parseDiscovery(text);
		if (discovery === null) continue;
		if (discovery.pid > 0 && !machine.isAlive(discovery.pid)) continue;
		return discovery;
	}
	return null;
}

/**
 * Where to reach the daemon.
 *
 * TCP when the settings name a port (the token from the settings' token file, else the discovery file's);
 * otherwise the socket: the setting, else the discovery file's, else the default socket.
 */
export async function resolveEndpoint(settings: CanvasdSettings, machine: Machine): Promise<Endpoint> {
	if (settings.tcpPort > 0) {
		let tokenFile = settings.tokenFile;
		let source: Source = "setting";
		if (tokenFile === "") {
			tokenFile = (await readDiscovery(machine))?.token_file ?? "";
			source = "discovery";
		}
		if (tokenFile === "") {
			throw new SetupError(`TCP port ${settings.tcpPort} needs a token file: set one in canvasd's settings (the daemon's http.token_file)`);
		}
		const token = (await machine.readFile(tokenFile))?.trim() ?? "";
		if (token === "") throw new SetupError(`the token file ${tokenFile} is missing or empty; is http.tcp_port set on the daemon?`);
		return { kind: "tcp", port: settings.tcpPort, token, source };
	}
	if (settings.socketPath !== "") return { kind: "unix", socketPath: settings.socketPath, source: "setting" };
	const discovery = await readDiscovery(machine);
	if (discovery !== null) return { kind: "unix", socketPath: discovery.socket, source: "discovery" };
	return { kind: "unix", socketPath: defaultSocket(machine), source: "default" };
}

/** This process, as the resolution sees it. */
export function thisMachine(): Machine {
	const { fs, os } = nodeModules();
	return {
		env: process.env,
		home: os.homedir(),
		platform: process.platform,
		uid: typeof process.getuid === "function" ? process.getuid() : 0,
		readFile: async (path) => {
			try {
				return await fs.promises.readFile(path, "utf8");
			} catch {
				return null;
			}
		},
		isAlive: (pid) => {
			try {
				process.kill(pid, 0);
				return true;
			} catch (error) {
				// EPERM: it exists but belongs to someone else.
				return (error as NodeJS.ErrnoException).code === "EPERM";
			}
		},
	};
}
