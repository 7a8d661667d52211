import type { App } from "obsidian";
import { messageOf, OfflineError } from "./errors";
import { windowTimers, type Timers } from "./timers";
import type { Transport } from "./transport";

/** One canvas as the daemon names it: its vault (the daemon's name) and the vault-relative path. */
export interface CanvasKey {
	vault: string;
	path: string;
}

/** A loaded canvas view as the plugin sees it: its file, and the unofficial `canvas` model it feature-detects. */
export interface CanvasViewLike {
	file: { path: string } | null;
	canvas?: unknown;
	requestSave?: unknown;
	getViewType(): string;
}

/**
 * The canvas views open in Obsidian with a file loaded: leaves of type "canvas" whose file ends in `.canvas`.
 *
 * A deferred leaf (a background tab not shown since the start) has no view loaded, hence no unsaved state: it
 * is left out, and the daemon writes such a canvas itself.
 */
export function openCanvasViews(app: App): CanvasViewLike[] {
	const views: CanvasViewLike[] = [];
	for (const leaf of app.workspace.getLeavesOfType("canvas")) {
		const view = leaf.view as unknown as Partial<CanvasViewLike> | null | undefined;
		if (view === null || view === undefined || typeof view.getViewType !== "function") continue;
		if (view.getViewType() !== "canvas") continue;
		const path = view.file?.path;
		if (typeof path === "string" && path.endsWith(".canvas")) views.push(view as CanvasViewLike);
	}
	return views;
}

/** A fresh client id for one plugin load: `obsidian-` and 12 random hex digits. */
export function newClientId(random: () => number = Math.random): string {
	let digits = "";
	for (let i = 0; i < 12; i++) digits += Math.floor(random() * 16).toString(16);
	return `obsidian-${digits}`;
}

export interface LeaseOptions {
	/** The client id (default: a fresh one). */
	client?: string;
	/** How long the daemon keeps the lease without a renewal (renewed every third of it). */
	ttlS?: number;
	/** Changes of the layout within this long make one PUT. */
	debounceMs?: number;
	timers?: Timers;
}

export const LEASE_TTL_S = 30;

/**
 * This plugin's lease on the canvases open in Obsidian: `PUT /v1/leases/{client}` with the current set on every
 * (debounced) change and every ttl/3, `DELETE` on stop. Requests are sent one after another, each with the set
 * as it is when it goes out, so the newest set always lands last. Nothing here throws when the daemon is offline:
 * the next renewal tries again.
 */
export class Leases {
	readonly client: string;
	private readonly ttlS: number;
	private readonly debounceMs: number;
	private readonly timers: Timers;
	private chain: Promise<void> = Promise.resolve();
	private debounceTimer: number | null = null;
	private renewTimer: number | null = null;
	private running = false;
	/** What the daemon last accepted (the canvases as JSON), null when unknown (the last request failed). */
	private sent: string | null = "[]";
	private offlineLogged = false;

	constructor(private readonly transport: Transport, private readonly open: () => CanvasKey[], options: LeaseOptions = {}) {
		this.client = options.client ?? newClientId();
		this.ttlS = options.ttlS ?? LEASE_TTL_S;
		this.debounceMs = options.debounceMs ?? 500;
		this.timers = options.timers ?? windowTimers;
	}

	/** Lease what is open now, and keep renewing. */
	start(): void {
		if (this.running) return;
		this.running = true;
		void this.sync();
	}

	/** The open canvases may have changed (layout change, another leaf, a file opened): PUT soon. */
	changed(): void {
		if (!this.running) return;
		if (this.debounceTimer !== null) this.timers.clearTimeout(this.debounceTimer);
		this.debounceTimer = this.timers.setTimeout(() => {
			this.debounceTimer = null;
			void this.sync();
		}, this.debounceMs);
	}

	/** PUT the current set now (queued behind any request under way); resolves when it was answered or failed. */
	sync(): Promise<void> {
		this.scheduleRenewal();
		return this.enqueue(() => this.put());
	}

	/** Stop renewing and release the lease; resolves once the daemon answered (or could not be reached). */
	stop(): Promise<void> {
		const wasRunning = this.running;
		this.running = false;
		if (this.debounceTimer !== null) this.timers.clearTimeout(this.debounceTimer);
		if (this.renewTimer !== null) this.timers.clearTimeout(this.renewTimer);
		this.debounceTimer = null;
		this.renewTimer = null;
		if (!wasRunning) return this.chain;
		return this.enqueue(async () => {
			try {
				await this.transport.call("DELETE", this.url(), { timeoutMs: 5_000 });
			} catch (error) {
				this.report(error);
			}
			this.sent = null;
		});
	}

	private enqueue(task: () => Promise<void>): Promise<void> {
		this.chain = this.chain.then(task, task);
		return this.chain;
	}

	private scheduleRenewal(): void {
		if (this.renewTimer !== null) this.timers.clearTimeout(this.renewTimer);
		this.renewTimer = null;
		if (!this.running) return;
		this.renewTimer = this.timers.setTimeout(() => {
			this.renewTimer = null;
			void this.sync();
		}, (this.ttlS * 1000) / 3);
	}

	private async put(): Promise<void> {
		if (!this.running) return;
		let canvases: CanvasKey[];
		try {
			canvases = unique(this.open());
		} catch (error) {
			console.error("canvasd: listing the open canvases failed", error);
			return;
		}
		const key = JSON.stringify(canvases);
		// Nothing open and nothing leased: no request (an empty PUT would only release what is not held).
		if (canvases.length === 0 && this.sent === key) return;
		try {
			await this.transport.call("PUT", this.url(), { body: { canvases, ttl_s: this.ttlS }, timeoutMs: 5_000 });
			this.sent = key;
			this.offlineLogged = false;
		} catch (error) {
			this.sent = null;
			this.report(error);
		}
	}

	private url(): string {
		return `/v1/leases/${encodeURIComponent(this.client)}`;
	}

	private report(error: unknown): void {
		if (error instanceof OfflineError) {
			if (!this.offlineLogged) console.debug(`canvasd: no lease while the daemon is offline: ${error.message}`);
			this.offlineLogged = true;
			return;
		}
		console.warn(`canvasd: the lease on the open canvases failed: ${messageOf(error)}`);
	}
}

function unique(canvases: CanvasKey[]): CanvasKey[] {
	const seen = new Map<string, CanvasKey>();
	for (const canvas of canvases) seen.set(`${canvas.vault}\n${canvas.path}`, { vault: canvas.vault, path: canvas.path });
	return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, canvas]) => canvas);
}
