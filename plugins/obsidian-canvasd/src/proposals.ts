import { DaemonError, messageOf } from "./errors";
import type { ChangeEvent } from "./feed";
import type { CanvasViewLike } from "./leases";
import type { Transport } from "./transport";
import { canvasUrl } from "./transport";

/** A canvas document as the canvas model's `getData()` gives it. */
export interface CanvasData {
	nodes: Record<string, unknown>[];
	edges: Record<string, unknown>[];
	[key: string]: unknown;
}

/** One op of the canvas op format (what daemon-side writes produce, and the remove ops). */
export type CanvasOp =
	| { op: "add_node"; node: Record<string, unknown> }
	| { op: "add_edge"; edge: Record<string, unknown> }
	| { op: "update_node"; id: string; set?: Record<string, unknown>; unset?: string[] }
	| { op: "update_edge"; id: string; set?: Record<string, unknown>; unset?: string[] }
	| { op: "remove_node"; id: string }
	| { op: "remove_edge"; id: string };

/** The unofficial canvas model behind a canvas view, as far as proposals need it (feature-detected). */
interface CanvasModel {
	getData(): unknown;
	importData?: (data: CanvasData) => unknown;
	setData?: (data: CanvasData) => unknown;
	requestSave?: unknown;
	requestFrame?: unknown;
}

/** The view's canvas model when it has what applying ops needs, else why not. */
export function canvasModel(view: CanvasViewLike): CanvasModel | string {
	const canvas = view.canvas as Partial<CanvasModel> | null | undefined;
	if (typeof canvas !== "object" || canvas === null) return "the canvas view has no canvas model";
	if (typeof canvas.getData !== "function") return "the canvas model has no getData()";
	if (typeof canvas.importData !== "function" && typeof canvas.setData !== "function") {
		return "the canvas model has neither importData() nor setData()";
	}
	return canvas as CanvasModel;
}

function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
	return JSON.parse(JSON.stringify(value)) as T;
}

/** `data` (a canvas document) with `ops` applied: new ids added, updates merged, ops on ids that are gone skipped. */
export function applyOps(data: unknown, ops: readonly unknown[]): CanvasData {
	const source = isObject(data) ? data : {};
	const result: CanvasData = {
		...clone(source),
		nodes: Array.isArray(source.nodes) ? clone(source.nodes.filter(isObject)) : [],
		edges: Array.isArray(source.edges) ? clone(source.edges.filter(isObject)) : [],
	};
	const nodeIndex = (id: unknown): number => result.nodes.findIndex((node) => node.id === id);
	const edgeIndex = (id: unknown): number => result.edges.findIndex((edge) => edge.id === id);
	const update = (item: Record<string, unknown>, op: Record<string, unknown>): void => {
		if (isObject(op.set)) Object.assign(item, clone(op.set));
		if (Array.isArray(op.unset)) for (const key of op.unset) if (typeof key === "string" && key !== "id") delete item[key];
	};
	for (const op of ops) {
		if (!isObject(op)) continue;
		switch (op.op) {
			case "add_node":
				if (isObject(op.node) && typeof op.node.id === "string" && nodeIndex(op.node.id) < 0) result.nodes.push(clone(op.node));
				break;
			case "add_edge": {
				const edge = op.edge;
				if (!isObject(edge) || typeof edge.id !== "string" || edgeIndex(edge.id) >= 0) break;
				// An edge whose end is gone would be a dangling edge in the live canvas.
				if (nodeIndex(edge.fromNode) < 0 || nodeIndex(edge.toNode) < 0) break;
				result.edges.push(clone(edge));
				break;
			}
			case "update_node": {
				const node = result.nodes[nodeIndex(op.id)];
				if (node !== undefined) update(node, op);
				break;
			}
			case "update_edge": {
				const edge = result.edges[edgeIndex(op.id)];
				if (edge !== undefined) update(edge, op);
				break;
			}
			case "remove_node":
				result.nodes = result.nodes.filter((node) => node.id !== op.id);
				result.edges = result.edges.filter((edge) => edge.fromNode !== op.id && edge.toNode !== op.id);
				break;
			case "remove_edge":
				result.edges = result.edges.filter((edge) => edge.id !== op.id);
				break;
			default:
				break;
		}
	}
	return result;
}

/** If `save` is one of Obsidian's debouncers (`run()` flushes a pending call), flush it. */
function flush(save: unknown, owner: unknown): void {
	const run = (save as { run?: unknown } | null | undefined)?.run;
	if (typeof save === "function" && typeof run === "function") run.call(save, owner);
}

/** Apply `ops` to the live canvas model and let Obsidian save it. */
export function applyToView(view: CanvasViewLike, canvas: CanvasModel, ops: readonly unknown[]): void {
	// A save Obsidian has pending goes out first, so what it writes next is the model with the ops in.
	flush(view.requestSave, view);
	flush(canvas.requestSave, canvas);
	const data = applyOps(canvas.getData(), ops);
	if (typeof canvas.importData === "function") canvas.importData(data);
	else canvas.setData?.(data);
	if (typeof canvas.requestFrame === "function") (canvas.requestFrame as () => void).call(canvas);
	if (typeof canvas.requestSave === "function") (canvas.requestSave as () => void).call(canvas);
	else if (typeof view.requestSave === "function") (view.requestSave as () => void).call(view);
}

export interface ProposalContext {
	transport: Transport;
	/** This plugin load's client id: only proposals for it are handled. */
	client: string;
	/** The daemon's name for this vault. */
	vault: () => string;
	/** The loaded canvas views now. */
	views: () => CanvasViewLike[];
}

/** What became of one proposal (for logs and tests). */
export type ProposalOutcome = "applied" | "refused" | "late" | "failed" | "written";

/**
 * Daemon-side writes to a canvas this plugin leased, arriving as `proposal` events: claimed, then applied to the
 * live canvas model (Obsidian saves it); refused at once when the canvas has no live view or the model lacks the
 * API, so the daemon writes the file itself.
 */
export class Proposals {
	/** Proposals being handled (their ids), so a repeated event is not applied twice. */
	private readonly busy = new Set<string>();
	private stopped = false;

	constructor(private readonly context: ProposalContext, private readonly onOutcome?: (id: string, outcome: ProposalOutcome) => void) {}

	/** A change-feed event: handles it when it is a proposal for this client. */
	onEvent(event: ChangeEvent): void {
		if (this.stopped || event.kind !== "proposal") return;
		const detail = event.detail;
		if (detail === undefined || detail.client !== this.context.client || typeof detail.id !== "string") return;
		if (this.busy.has(detail.id)) return;
		this.busy.add(detail.id);
		const id = detail.id;
		const ops = Array.isArray(detail.ops) ? (detail.ops as unknown[]) : [];
		void this.handle(id, event.vault, event.path, ops)
			.then((outcome) => this.onOutcome?.(id, outcome))
			.catch((error: unknown) => {
				console.error("canvasd: handling a proposal failed", error);
				this.onOutcome?.(id, "failed");
			})
			.finally(() => this.busy.delete(id));
	}

	/** Stop handling proposals (unload): the daemon writes the files of those not claimed yet. */
	stop(): void {
		this.stopped = true;
	}

	private find(vault: string | null, path: string | null): CanvasViewLike | null {
		if (vault !== this.context.vault() || path === null) return null;
		return this.context.views().find((view) => view.file?.path === path) ?? null;
	}

	private async handle(id: string, vault: string | null, path: string | null, ops: unknown[]): Promise<ProposalOutcome> {
		const view = this.find(vault, path);
		const model = view === null ? `${path ?? "the canvas"} is not open in Obsidian` : canvasModel(view);
		if (typeof model === "string" || view === null) return this.refuse(id, typeof model === "string" ? model : "no view");
		if (this.stopped) return this.refuse(id, "the plugin is unloading");
		try {
			await this.answer(id, { applied: true });
		} catch (error) {
			if (error instanceof DaemonError && error.status === 404) return "late"; // the daemon wrote the file itself
			console.warn(`canvasd: claiming proposal ${id} failed (${messageOf(error)}); the daemon writes the file`);
			return "failed";
		}
		// The claim took a round trip: the view may have closed meanwhile.
		const live = this.find(vault, path);
		const liveModel = live === null ? null : canvasModel(live);
		if (live !== null && liveModel !== null && typeof liveModel !== "string") {
			applyToView(live, liveModel, ops);
			return "applied";
		}
		// Claimed but the view is gone: a closed canvas has no unsaved state, so its file takes the ops.
		if (vault !== null && path !== null) {
			try {
				await this.context.transport.call("PATCH", canvasUrl(vault, path), { body: { ops } });
				return "written";
			} catch (error) {
				console.warn(`canvasd: the canvas closed before proposal ${id} was applied, and writing it failed: ${messageOf(error)}`);
			}
		}
		return "failed";
	}

	private async refuse(id: string, reason: string): Promise<ProposalOutcome> {
		try {
			await this.answer(id, { applied: false, reason });
		} catch (error) {
			if (!(error instanceof DaemonError && error.status === 404)) console.debug(`canvasd: refusing proposal ${id} failed: ${messageOf(error)}`);
		}
		return "refused";
	}

	private answer(id: string, body: { applied: boolean; reason?: string }): Promise<unknown> {
		return this.context.transport.call("POST", `/v1/proposals/${encodeURIComponent(id)}`, { body, timeoutMs: 5_000 });
	}
}
