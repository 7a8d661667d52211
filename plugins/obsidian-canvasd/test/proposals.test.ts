import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileView, TFile } from "./obsidian-stub";
import CanvasdPlugin from "../src/main";
import { ChangeFeed } from "../src/feed";
import { applyOps, Proposals, type CanvasData, type ProposalOutcome } from "../src/proposals";
import { Transport } from "../src/transport";
import { canvas, Daemon, eventually, SKIP_REASON, titled } from "./daemon";

const ENTROPY = {
	id: "ent", type: "text", text: "# Entropy\nWhy does **entropy** grow in **closed systems**?",
	x: 0, y: 0, width: 300, height: 120, color: "1",
};
const TYPED = { id: "typed", type: "text", text: "what the learner typed a second ago", x: 0, y: -600, width: 300, height: 80 };

/**
 * Obsidian's canvas model as the plugin meets it: the document in memory (`getData` / `importData`), saved as a
 * whole to the file `saveMs` after the last change (`requestSave` is debounced), as Obsidian does (2 s there).
 */
class LiveCanvas {
	private data: CanvasData;
	private timer: ReturnType<typeof setTimeout> | null = null;
	saves = 0;

	constructor(private readonly file: string, private readonly saveMs: number) {
		this.data = JSON.parse(readFileSync(file, "utf8")) as CanvasData;
	}

	getData(): CanvasData {
		return JSON.parse(JSON.stringify(this.data)) as CanvasData;
	}

	importData(data: CanvasData): void {
		this.data = JSON.parse(JSON.stringify(data)) as CanvasData;
	}

	requestSave(): void {
		if (this.timer !== null) clearTimeout(this.timer);
		this.timer = setTimeout(() => {
			this.timer = null;
			writeFileSync(this.file, JSON.stringify(this.data, null, "\t"));
			this.saves++;
		}, this.saveMs);
	}

	/** The learner adds a node: in memory now, on disk after the debounced save. */
	addNode(node: Record<string, unknown>): void {
		this.data.nodes.push({ ...node });
		this.requestSave();
	}

	get pending(): boolean {
		return this.timer !== null;
	}

	get nodeIds(): string[] {
		return this.data.nodes.map((node) => String(node.id));
	}

	close(): void {
		if (this.timer !== null) clearTimeout(this.timer);
		this.timer = null;
	}
}

/** A canvas view as Obsidian's looks to the plugin: a FileView of type "canvas" with its model in `canvas`. */
class StandInCanvasView extends FileView {
	constructor(path: string, readonly canvas: LiveCanvas) {
		super();
		this.file = new TFile(path);
	}

	override getViewType(): string {
		return "canvas";
	}
}

/** An app with a workspace of canvas leaves the test opens and closes, firing Obsidian's workspace events. */
function standInApp(vaultName: string) {
	const leaves: { view: StandInCanvasView }[] = [];
	const handlers = new Map<string, Set<() => void>>();
	const on = (name: string, callback: () => void) => {
		const set = handlers.get(name) ?? new Set();
		set.add(callback);
		handlers.set(name, set);
		return { off: () => set.delete(callback) };
	};
	const fire = (name: string): void => {
		for (const callback of handlers.get(name) ?? []) callback();
	};
	const app = {
		vault: { getName: () => vaultName, on },
		workspace: {
			on,
			onLayoutReady: (callback: () => void) => callback(),
			getLeavesOfType: (type: string) => leaves.filter((leaf) => leaf.view.getViewType() === type),
		},
	};
	return {
		app,
		handlers,
		open(view: StandInCanvasView): void {
			leaves.push({ view });
			fire("layout-change");
			fire("file-open");
		},
		/** Close the view; with `quietly`, before Obsidian's layout-change reaches the plugin. */
		close(view: StandInCanvasView, quietly = false): void {
			const index = leaves.findIndex((leaf) => leaf.view === view);
			if (index >= 0) leaves.splice(index, 1);
			view.canvas.close();
			if (!quietly) fire("layout-change");
		},
	};
}

describe("applying canvas ops to the live model", () => {
	const data = {
		nodes: [{ id: "a", type: "text", text: "x", color: "1" }, { id: "b", type: "text", text: "y" }],
		edges: [{ id: "e", fromNode: "a", toNode: "b" }],
	};

	it("adds new ids, merges updates, unsets keys and skips ops on ids that are gone", () => {
		const result = applyOps(data, [
			{ op: "add_node", node: { id: "c", type: "text", text: "z" } },
			{ op: "add_node", node: { id: "a", type: "text", text: "twice" } },
			{ op: "add_edge", edge: { id: "e2", fromNode: "a", toNode: "c" } },
			{ op: "add_edge", edge: { id: "e3", fromNode: "a", toNode: "gone" } },
			{ op: "update_node", id: "a", set: { color: "4", width: 10 }, unset: ["text"] },
			{ op: "update_node", id: "gone", set: { color: "4" } },
		]);
		expect(result.nodes).toEqual([
			{ id: "a", type: "text", color: "4", width: 10 },
			{ id: "b", type: "text", text: "y" },
			{ id: "c", type: "text", text: "z" },
		]);
		expect(result.edges.map((edge) => edge.id)).toEqual(["e", "e2"]);
		expect(data.nodes[0]).toEqual({ id: "a", type: "text", text: "x", color: "1" }); // the input is untouched
	});

	it("removes nodes with their edges", () => {
		const result = applyOps(data, [{ op: "remove_node", id: "b" }]);
		expect(result.nodes.map((node) => node.id)).toEqual(["a"]);
		expect(result.edges).toEqual([]);
	});
});

describe.skipIf(SKIP_REASON !== null)(titled("leases and proposals against a real daemon"), () => {
	let daemon: Daemon;
	let transport: Transport;
	let plugin: CanvasdPlugin;
	let workspace: ReturnType<typeof standInApp>;
	let client: string;
	const views: StandInCanvasView[] = [];

	const metric = async (name: string): Promise<number> => {
		const text = await transport.get<string>("/metrics");
		const escaped = name.replace(/[{}"=]/g, (c) => `\\${c}`);
		const match = new RegExp(`^${escaped}\\s+([0-9.e+-]+)$`, "m").exec(text);
		return match === null ? 0 : Number(match[1]);
	};
	const leased = async (): Promise<{ client: string; canvases: { vault: string; path: string }[] }[]> =>
		(await transport.get<{ leases: { client: string; canvases: { vault: string; path: string }[] }[] }>("/v1/leases")).leases;
	const leasedPaths = async (): Promise<string[]> =>
		(await leased()).filter((lease) => lease.client === client).flatMap((lease) => lease.canvases.map((c) => `${c.vault}/${c.path}`));
	const run = async (path: string): Promise<string> => {
		const answer = await transport.call<{ run: { id: string } }>("POST", "/v1/agents/decompose/runs",
			{ body: { vault: daemon.vault, path, nodes: ["ent"], wait: false } });
		expect(answer.status).toBe(202);
		return answer.body.run.id;
	};
	const finished = (id: string) => eventually(async () => {
		const { run: state } = await transport.get<{ run: { state: string; error?: unknown; ops?: { op: string; node?: { id: string } }[] } }>(
			`/v1/agents/runs/${id}`);
		return state.state === "done" || state.state === "failed" ? state : undefined;
	}, "the run to end", 45_000);
	const fileIds = (path: string): string[] =>
		(JSON.parse(readFileSync(join(daemon.vaultDir, path), "utf8")) as CanvasData).nodes.map((node) => String(node.id));
	const openView = (path: string, saveMs: number): StandInCanvasView => {
		const view = new StandInCanvasView(path, new LiveCanvas(join(daemon.vaultDir, path), saveMs));
		views.push(view);
		workspace.open(view);
		return view;
	};

	beforeAll(async () => {
		daemon = await new Daemon({
			config: { leases: { proposal_timeout_s: 5 } },
			canvases: { "t.canvas": canvas(ENTROPY), "u.canvas": canvas(ENTROPY), "w.canvas": canvas(ENTROPY) },
		}).start();
		transport = new Transport(() => Promise.resolve({ kind: "unix", socketPath: daemon.socket, source: "setting" }));
		workspace = standInApp(daemon.vault);
		plugin = new CanvasdPlugin(workspace.app as never, {} as never);
		(plugin as unknown as { data: unknown }).data = { socketPath: daemon.socket };
		await plugin.onload();
		client = plugin.leases?.client ?? "";
		expect(client).toMatch(/^obsidian-/);
		// The feed follows from "now": proposals reach the plugin only once it is connected.
		await eventually(async () => ((await metric("canvasd_event_stream_clients")) >= 1 ? true : undefined), "the plugin's change feed");
	});
	afterAll(async () => {
		plugin?.unload();
		for (const view of views) view.canvas.close();
		await daemon?.dispose();
	});

	it("leases the canvas open in the workspace under the plugin's client id", async () => {
		openView("t.canvas", 2_000); // Obsidian saves 2 s after the last change
		await eventually(async () => ((await leasedPaths()).includes("v/t.canvas") ? true : undefined), "the lease on t.canvas");
		expect((await leased()).map((lease) => lease.client)).toEqual([client]);
	});

	it("applies an agent run to the live canvas: the learner's unsaved node and the agent's nodes both reach the file", async () => {
		const view = views[0]!;
		view.canvas.addNode(TYPED); // the learner's edit, saved only 2 s later
		expect(fileIds("t.canvas")).not.toContain("typed");
		const id = await run("t.canvas");
		const state = await finished(id);
		expect(state.state, JSON.stringify(state.error)).toBe("done");
		const added = (state.ops ?? []).filter((op) => op.op === "add_node").map((op) => op.node!.id);
		expect(added.length).toBeGreaterThanOrEqual(3);
		// The plugin claimed the proposal and applied it to the live model: the daemon did not write the file.
		expect(await metric('canvasd_proposals_total{outcome="applied"}')).toBe(1);
		expect(view.canvas.nodeIds).toEqual(expect.arrayContaining(["ent", "typed", ...added]));
		await eventually(() => (!view.canvas.pending && view.canvas.saves > 0 ? true : undefined), "Obsidian's debounced save");
		expect(fileIds("t.canvas")).toEqual(expect.arrayContaining(["ent", "typed", ...added]));
	});

	it("refuses a proposal for a canvas no longer open, and the daemon writes the file", async () => {
		const view = openView("u.canvas", 300);
		await eventually(async () => ((await leasedPaths()).includes("v/u.canvas") ? true : undefined), "the lease on u.canvas");
		workspace.close(view, true); // closed; the lease still names it
		const id = await run("u.canvas");
		const state = await finished(id);
		expect(state.state, JSON.stringify(state.error)).toBe("done");
		const added = (state.ops ?? []).filter((op) => op.op === "add_node").map((op) => op.node!.id);
		expect(added.length).toBeGreaterThanOrEqual(3);
		expect(await metric('canvasd_proposals_total{outcome="written"}')).toBe(1);
		expect(fileIds("u.canvas")).toEqual(expect.arrayContaining(["ent", ...added]));
		expect(view.canvas.nodeIds).toEqual(["ent"]); // nothing was applied to the closed view
	});

	it("follows the workspace when a canvas closes, and releases the lease on unload", async () => {
		workspace.close(views[0]!);
		await eventually(async () => ((await leasedPaths()).length === 0 ? true : undefined), "the lease to follow the close");
		openView("t.canvas", 300);
		await eventually(async () => ((await leasedPaths()).includes("v/t.canvas") ? true : undefined), "the lease on t.canvas again");
		plugin.unload();
		await eventually(async () => ((await leased()).length === 0 ? true : undefined), "the lease to be released");
		expect([...workspace.handlers.values()].every((set) => set.size === 0)).toBe(true);
	});

	it("writes a claimed proposal to the file when the view closed during the claim", async () => {
		const file = join(daemon.vaultDir, "w.canvas");
		const view = new StandInCanvasView("w.canvas", new LiveCanvas(file, 300));
		views.push(view);
		let looks = 0; // open when the proposal arrives, closed once the claim is answered
		const outcomes: ProposalOutcome[] = [];
		const proposals = new Proposals({
			transport, client: "obsidian-test", vault: () => daemon.vault,
			views: () => (looks++ === 0 ? [view] : []),
		}, (_id, outcome) => outcomes.push(outcome));
		// From the first cursor: the proposal is replayed even if it is published before the feed subscribes.
		const feed = new ChangeFeed(transport, { since: 0, onEvent: (event) => proposals.onEvent(event) });
		feed.start();
		try {
			await transport.call("PUT", "/v1/leases/obsidian-test", { body: { canvases: [{ vault: daemon.vault, path: "w.canvas" }], ttl_s: 60 } });
			const state = await finished(await run("w.canvas"));
			expect(state.state, JSON.stringify(state.error)).toBe("done");
			await eventually(() => (outcomes.length > 0 ? true : undefined), "the proposal's outcome");
			expect(outcomes).toEqual(["written"]);
			const added = (state.ops ?? []).filter((op) => op.op === "add_node").map((op) => op.node!.id);
			await eventually(() => (added.every((id) => fileIds("w.canvas").includes(id)) ? true : undefined), "the agent's nodes in the file");
			expect(view.canvas.nodeIds).toEqual(["ent"]);
		} finally {
			feed.stop();
			proposals.stop();
			await transport.call("DELETE", "/v1/leases/obsidian-test");
		}
	});
});
