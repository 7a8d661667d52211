import { messageOf } from "./errors";
import { SseParser, type SseMessage } from "./sse";
import { windowTimers, type Timers } from "./timers";
import type { Stream, Transport } from "./transport";
import { withQuery } from "./transport";

/** One change-feed event, as the daemon sends it in `data:`. */
export interface ChangeEvent {
	cursor: number;
	kind: string;
	vault: string | null;
	path: string | null;
	version: string | null;
	origin: string | null;
	time: number;
	detail?: Record<string, unknown>;
}

/** `connecting` before the first connection, `connected`, `offline` between attempts, `stopped`. */
export type FeedState = "connecting" | "connected" | "offline" | "stopped";

export interface Backoff {
	initialMs: number;
	maxMs: number;
	/** Each delay is shortened by up to this fraction at random, so many clients do not retry in step. */
	jitter: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1_000, maxMs: 60_000, jitter: 0.5 };

export interface FeedOptions {
	/** Resume after this cursor (null: only what happens from now on). */
	since?: number | null;
	onEvent?: (event: ChangeEvent) => void;
	/** The daemon no longer has what came after our cursor: re-list everything, then follow on. */
	onReset?: (cursor: number) => void | Promise<void>;
	onState?: (state: FeedState, error?: Error) => void;
	backoff?: Partial<Backoff>;
	/** Reconnect when nothing (not even the 15 s keep-alive ping) arrived for this long. */
	idleTimeoutMs?: number;
	random?: () => number;
	timers?: Timers;
}

/** The delay before reconnection attempt `attempt` (0-based): doubled each time, capped, jittered. */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
	const capped = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
	return Math.round(capped * (1 - backoff.jitter * random()));
}

function parseEvent(message: SseMessage): ChangeEvent | null {
	let data: unknown;
	try {
		data = JSON.parse(message.data);
	} catch {
		return null;
	}
	if (typeof data !== "object" || data === null) return null;
	const event = data as Partial<ChangeEvent>;
	const cursor = typeof event.cursor === "number" ? event.cursor : Number(message.id);
	if (!Number.isSafeInteger(cursor)) return null;
	return {
		cursor,
		kind: typeof event.kind === "string" ? event.kind : message.event,
		vault: event.vault ?? null,
		path: event.path ?? null,
		version: event.version ?? null,
		origin: event.origin ?? null,
		time: typeof event.time === "number" ? event.time : 0,
		...(event.detail !== undefined ? { detail: event.detail } : {}),
	};
}

/**
 * Follows `GET /v1/events` (Server-Sent Events over the transport), remembering the last cursor.
 *
 * Reconnects with exponential backoff and resumes with `since`, so nothing is missed across a dropped
 * connection or a restarted daemon; when the daemon cannot fill the gap it sends `reset`, which becomes
 * `onReset` (re-list) and the cursor it carries.
 */
export class ChangeFeed {
	cursor: number | null;
	private current: FeedState = "stopped";
	private readonly backoff: Backoff;
	private readonly timers: Timers;
	private readonly random: () => number;
	private readonly idleTimeoutMs: number;
	private attempt = 0;
	private generation = 0;
	private stream: Stream | null = null;
	private retryTimer: number | null = null;
	private idleTimer: number | null = null;

	constructor(private readonly transport: Transport, private readonly options: FeedOptions = {}) {
		this.cursor = options.since ?? null;
		this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
		this.timers = options.timers ?? windowTimers;
		this.random = options.random ?? Math.random;
		this.idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
	}

	get state(): FeedState {
		return this.current;
	}

	get connected(): boolean {
		return this.current === "connected";
	}

	/** Connect (again) from the remembered cursor. */
	start(): void {
		if (this.current !== "stopped") return;
		this.attempt = 0;
		this.setState("connecting");
		void this.connect(++this.generation);
	}

	/** Close the stream and cancel any reconnection; the cursor is kept for the next `start()`. */
	stop(): void {
		this.generation++;
		this.clearTimers();
		this.stream?.close();
		this.stream = null;
		this.setState("stopped");
	}

	private async connect(generation: number): Promise<void> {
		let stream: Stream;
		try {
			stream = await this.transport.stream(withQuery("/v1/events", { since: this.cursor }));
		} catch (error) {
			this.lost(generation, error instanceof Error ? error : new Error(messageOf(error)));
			return;
		}
		if (generation !== this.generation) {
			stream.close();
			return;
		}
		this.stream = stream;
		this.attempt = 0;
		this.setState("connected");
		const parser = new SseParser();
		const { response } = stream;
		response.setEncoding("utf8");
		this.touch(generation);
		response.on("data", (chunk: string) => {
			if (generation !== this.generation) return;
			this.touch(generation);
			for (const message of parser.push(chunk)) this.handle(message);
		});
		const ended = (error?: Error): void => this.lost(generation, error ?? new Error("the daemon closed the change feed"));
		response.on("error", (error: Error) => ended(error));
		response.on("close", () => ended());
		response.on("end", () => ended());
	}

	private handle(message: SseMessage): void {
		const event = parseEvent(message);
		if (event === null) return;
		this.cursor = event.cursor;
		if (event.kind === "reset") {
			const reset = this.options.onReset;
			if (reset !== undefined) {
				void Promise.resolve()
					.then(() => reset(event.cursor))
					.catch((error: unknown) => console.error("canvasd: re-listing after a reset failed", error));
			}
			return;
		}
		try {
			this.options.onEvent?.(event);
		} catch (error) {
			console.error("canvasd: a change-feed handler failed", error);
		}
	}

	/** The connection `generation` failed or ended: go offline and try again after the backoff. */
	private lost(generation: number, error: Error): void {
		if (generation !== this.generation) return; // already handled ('end' and 'close' both come)
		const waiting = ++this.generation;
		this.clearTimers();
		this.stream?.close();
		this.stream = null;
		this.setState("offline", error);
		const delay = backoffDelay(this.attempt++, this.backoff, this.random);
		this.retryTimer = this.timers.setTimeout(() => {
			this.retryTimer = null;
			if (waiting === this.generation) void this.connect(++this.generation);
		}, delay);
	}

	/** Restart the idle watchdog: a connection silent past the keep-alive period is presumed dead. */
	private touch(generation: number): void {
		if (this.idleTimer !== null) this.timers.clearTimeout(this.idleTimer);
		this.idleTimer = this.timers.setTimeout(() => {
			this.idleTimer = null;
			this.lost(generation, new Error("the change feed went silent"));
		}, this.idleTimeoutMs);
	}

	private clearTimers(): void {
		if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
		if (this.idleTimer !== null) this.timers.clearTimeout(this.idleTimer);
		this.retryTimer = null;
		this.idleTimer = null;
	}

	private setState(state: FeedState, error?: Error): void {
		const changed = state !== this.current;
		this.current = state;
		if (changed || error !== undefined) {
			try {
				this.options.onState?.(state, error);
			} catch (handlerError) {
				console.error("canvasd: a feed state handler failed", handlerError);
			}
		}
	}
}
