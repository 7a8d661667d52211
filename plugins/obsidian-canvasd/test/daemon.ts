/** A real canvasd daemon for a test: started as a subprocess on a socket in a private temporary folder. */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PLUGIN_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REPO_DIR = resolve(PLUGIN_DIR, "..", "..");

/** The Python that has canvasd: $CANVASD_PYTHON, else the repository's .venv. */
export const PYTHON = process.env.CANVASD_PYTHON !== undefined && process.env.CANVASD_PYTHON !== ""
	? resolve(process.env.CANVASD_PYTHON)
	: resolve(PLUGIN_DIR, "../../.venv/bin/python");

/** Why the daemon tests cannot run here, or null when they can. */
export const SKIP_REASON: string | null = existsSync(PYTHON)
	? null
	: `no canvasd Python at ${PYTHON} (set CANVASD_PYTHON, or build the repository's .venv with 'make test')`;

if (SKIP_REASON !== null) console.warn(`canvasd daemon tests skipped: ${SKIP_REASON}`);

/** The describe title, saying why when the daemon tests are skipped. */
export function titled(title: string): string {
	return SKIP_REASON === null ? title : `${title} (skipped: ${SKIP_REASON})`;
}

export const RED_NODE = { id: "a", type: "text", text: "x", x: 0, y: 0, width: 100, height: 50, color: "1" };

/** A private temporary folder (mkdtemp makes it 0700, which the daemon requires of the socket's folder). */
export function tempDir(prefix = "cvd-"): string {
	// Short: AF_UNIX socket paths are limited to about 100 bytes.
	const dir = mkdtempSync(join(existsSync("/tmp") ? "/tmp" : tmpdir(), prefix));
	made.push(dir);
	return dir;
}

const made: string[] = [];

/** Remove every folder `tempDir` made (test/setup.ts calls it after each test file). */
export function removeTempDirs(): void {
	for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface DaemonOptions {
	/** Config keys over the test defaults (fsync, index and memory off). */
	config?: Record<string, unknown>;
	/** Canvases to write before the start: vault-relative path → JSON document. */
	canvases?: Record<string, unknown>;
	/** The vault's name (default "v"). */
	vault?: string;
}

export class Daemon {
	readonly root: string;
	readonly socket: string;
	readonly dataDir: string;
	readonly vaultDir: string;
	readonly vault: string;
	private readonly configFile: string;
	private child: ChildProcess | null = null;
	private log = "";

	constructor(private readonly options: DaemonOptions = {}) {
		this.root = tempDir();
		this.socket = join(this.root, "s.sock");
		this.dataDir = join(this.root, "data");
		this.vaultDir = join(this.root, "vault");
		this.vault = options.vault ?? "v";
		this.configFile = join(this.root, "config.yaml");
		mkdirSync(this.vaultDir);
		const config = {
			batch_writer: { fsync: false },
			index: { enabled: false },
			memory: { enabled: false },
			...options.config,
			daemon: { data_dir: this.dataDir, ...(options.config?.daemon as object | undefined) },
		};
		writeFileSync(this.configFile, JSON.stringify(config));
		for (const [path, document] of Object.entries(options.canvases ?? {})) this.writeCanvas(path, document);
	}

	/** Start the daemon and wait until GET /v1/health answers. */
	async start(timeoutMs = 20_000): Promise<this> {
		if (this.child !== null) throw new Error("the daemon is already running");
		const child = spawn(PYTHON, ["-m", "canvasd.cli", "serve", "--vault", `${this.vault}=${this.vaultDir}`,
			"--socket", this.socket, "--config", this.configFile], {
			cwd: REPO_DIR,
			env: { ...process.env, XDG_DATA_HOME: join(this.root, "xdg-data"), XDG_RUNTIME_DIR: this.root },
			stdio: ["ignore", "pipe", "pipe"],
		});
		this.child = child;
		child.stdout?.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
		child.stderr?.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
		const deadline = Date.now() + timeoutMs;
		while (Date.now() < deadline) {
			if (child.exitCode !== null) throw new Error(`canvasd exited with ${child.exitCode}:\n${this.log}`);
			if (await this.healthy()) return this;
			await sleep(100);
		}
		await this.stop();
		throw new Error(`canvasd did not answer within ${timeoutMs} ms:\n${this.log}`);
	}

	/** SIGTERM, and wait for the process to exit (it removes its socket). */
	async stop(timeoutMs = 20_000): Promise<void> {
		const child = this.child;
		this.child = null;
		if (child === null || child.exitCode !== null || child.signalCode !== null) return;
		const exited = new Promise<void>((done) => child.once("exit", () => done()));
		child.kill("SIGTERM");
		const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
		await exited;
		clearTimeout(timer);
	}

	/** Stop it and remove its folder. */
	async dispose(): Promise<void> {
		await this.stop();
		rmSync(this.root, { recursive: true, force: true });
	}

	writeCanvas(path: string, document: unknown): void {
		const file = join(this.vaultDir, path);
		mkdirSync(dirname(file), { recursive: true });
		writeFileSync(file, JSON.stringify(document));
	}

	get output(): string {
		return this.log;
	}

	/**
	 * Whether it answers and every subsystem has caught up: the API answers before the watcher runs, and a
	 * canvas written before the watcher watches gives no event.
	 */
	private healthy(): Promise<boolean> {
		return new Promise((done) => {
			const request = http.get({ socketPath: this.socket, path: "/v1/health", headers: { host: "canvasd" }, agent: false }, (res) => {
				const chunks: Buffer[] = [];
				res.on("data", (chunk: Buffer) => chunks.push(chunk));
				res.on("end", () => {
					try {
						const health = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { subsystems?: Record<string, string> };
						const phases = Object.values(health.subsystems ?? {});
						done(res.statusCode === 200 && phases.every((phase) => !["starting", "syncing"].includes(phase)));
					} catch {
						done(false);
					}
				});
			});
			request.on("error", () => done(false));
			request.setTimeout(2_000, () => request.destroy());
		});
	}
}

export function sleep(ms: number): Promise<void> {
	return new Promise((done) => setTimeout(done, ms));
}

/** Poll `check` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await check();
		if (value !== undefined) return value;
		if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
		await sleep(50);
	}
}

/** A free TCP port on 127.0.0.1 (closed again before the daemon binds it). */
export async function freePort(): Promise<number> {
	const net = await import("node:net");
	return new Promise((done, fail) => {
		const server = net.createServer();
		server.once("error", fail);
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			const port = typeof address === "object" && address !== null ? address.port : 0;
			server.close(() => done(port));
		});
	});
}

export function canvas(...nodes: unknown[]): unknown {
	return { nodes, edges: [] };
}
