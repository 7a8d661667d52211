import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, RequestOptions } from "http";
import type { Endpoint } from "./discovery";
import { DaemonError, OfflineError } from "./errors";
import { nodeModules } from "./node";

/** One answer: the status, the headers and the body (parsed JSON, or text when it is not JSON). */
export interface Answer<T = unknown> {
	status: number;
	headers: IncomingHttpHeaders;
	body: T;
}

export interface CallOptions {
	body?: unknown;
	headers?: Record<string, string>;
	/** Give up when no answer has come in this long (default 30 s; the daemon's own write timeout is shorter). */
	timeoutMs?: number;
}

/** An open streaming answer (the change feed): read `response`, end it with `close()`. */
export interface Stream {
	response: IncomingMessage;
	close(): void;
}

type Query = Record<string, string | number | boolean | undefined | null>;

const DEFAULT_TIMEOUT_MS = 30_000;

/** `path` with `query`'s set values, percent-encoded. */
export function withQuery(path: string, query: Query = {}): string {
	const parts = Object.entries(query)
		.filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined && entry[1] !== null)
		.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
	return parts.length === 0 ? path : `${path}?${parts.join("&")}`;
}

/** A vault-relative canvas path as URL segments, each percent-encoded. */
export function encodePath(path: string): string {
	return path.split("/").map(encodeURIComponent).join("/");
}

/** `/v1/vaults/{vault}/canvases/{path}`. */
export function canvasUrl(vault: string, path: string): string {
	return `/v1/vaults/${encodeURIComponent(vault)}/canvases/${encodePath(path)}`;
}

function describe(endpoint: Endpoint): string {
	return endpoint.kind === "unix" ? endpoint.socketPath : `127.0.0.1:${endpoint.port}`;
}

function parseBody(headers: IncomingHttpHeaders, text: string): unknown {
	const type = headers["content-type"] ?? "";
	if (text !== "" && type.includes("json")) {
		try {
			return JSON.parse(text) as unknown;
		} catch {
			return text;
		}
	}
	return text;
}

/** The daemon's JSON error as a `DaemonError` (its message surfaced as is), or a plain one for other bodies. */
export function errorOf(status: number, body: unknown): DaemonError {
	if (typeof body === "object" && body !== null && "error" in body) {
		const error = body.error;
		if (typeof error === "object" && error !== null) {
			const { code, message, details } = error as Record<string, unknown>;
			if (typeof message === "string") {
				return new DaemonError(status, typeof code === "string" ? code : `http_${status}`, message,
					typeof details === "object" && details !== null ? (details as Record<string, unknown>) : {});
			}
		}
	}
	const text = typeof body === "string" ? body.slice(0, 200) : "";
	return new DaemonError(status, `http_${status}`, `canvasd answered HTTP ${status}${text !== "" ? `: ${text}` : ""}`);
}

/**
 * HTTP/1.1 to the daemon over its Unix socket, or over TCP on 127.0.0.1 with a bearer token.
 *
 * `requestUrl` and `fetch` cannot reach a Unix socket, hence Node's http module. The endpoint is resolved
 * again for every request, so a daemon started (or moved) after the plugin is found without a reload.
 */
export class Transport {
	private readonly http: typeof import("http");

	constructor(private readonly endpoint: () => Promise<Endpoint>, http?: typeof import("http")) {
		this.http = http ?? nodeModules().http;
	}

	get<T = unknown>(path: string, query?: Query, options: CallOptions = {}): Promise<T> {
		return this.call<T>("GET", withQuery(path, query), options).then((answer) => answer.body);
	}

	post<T = unknown>(path: string, body: unknown, options: CallOptions = {}): Promise<T> {
		return this.call<T>("POST", path, { ...options, body }).then((answer) => answer.body);
	}

	/** One request; a status of 400 or more throws the daemon's error, no daemon throws `OfflineError`. */
	async call<T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
		const endpoint = await this.endpoint();
		const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
		const headers: Record<string, string> = { accept: "application/json", ...options.headers };
		if (payload !== undefined) {
			headers["content-type"] = "application/json";
			headers["content-length"] = String(Buffer.byteLength(payload));
		}
		const { response, text } = await new Promise<{ response: IncomingMessage; text: string }>((resolve, reject) => {
			const request = this.open(endpoint, method, path, headers, reject, (res) => {
				const chunks: Buffer[] = [];
				res.on("data", (chunk: Buffer) => chunks.push(chunk));
				res.on("end", () => resolve({ response: res, text: Buffer.concat(chunks).toString("utf8") }));
				res.on("error", (error) => reject(new OfflineError(describe(endpoint), error.message)));
			});
			const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
			request.setTimeout(timeoutMs, () => {
				request.destroy(new OfflineError(describe(endpoint), `no answer within ${timeoutMs / 1000} s`));
			});
			request.end(payload);
		});
		const status = response.statusCode ?? 0;
		const body = parseBody(response.headers, text);
		if (status >= 400) throw errorOf(status, body);
		return { status, headers: response.headers, body: body as T };
	}

	/** A streaming GET (Server-Sent Events): resolves once the headers are in, with status 200. */
	async stream(path: string, headers: Record<string, string> = {}): Promise<Stream> {
		const endpoint = await this.endpoint();
		return new Promise<Stream>((resolve, reject) => {
			let settled = false;
			const fail = (error: Error): void => {
				if (!settled) {
					settled = true;
					reject(error);
				}
			};
			const request = this.open(endpoint, "GET", path, { accept: "text/event-stream", ...headers }, fail, (res) => {
				const status = res.statusCode ?? 0;
				if (status !== 200) {
					const chunks: Buffer[] = [];
					res.on("data", (chunk: Buffer) => chunks.push(chunk));
					res.on("end", () => fail(errorOf(status, parseBody(res.headers, Buffer.concat(chunks).toString("utf8")))));
					return;
				}
				settled = true;
				resolve({ response: res, close: () => request.destroy() });
			});
			request.end();
		});
	}

	private open(endpoint: Endpoint, method: string, path: string, headers: Record<string, string>,
		reject: (error: Error) => void, onResponse: (response: IncomingMessage) => void): ClientRequest {
		const all: Record<string, string> = { host: "canvasd", ...headers };
		const target: RequestOptions = endpoint.kind === "unix"
			? { socketPath: endpoint.socketPath }
			: { host: "127.0.0.1", port: endpoint.port };
		if (endpoint.kind === "tcp") all.authorization = `Bearer ${endpoint.token}`;
		// One connection per request: nothing idles open once the plugin is unloaded.
		const request = this.http.request({ ...target, method, path, headers: all, agent: false }, onResponse);
		request.on("error", (error: NodeJS.ErrnoException) => {
			reject(error instanceof OfflineError ? error : new OfflineError(describe(endpoint), error.code ?? error.message));
		});
		return request;
	}
}
