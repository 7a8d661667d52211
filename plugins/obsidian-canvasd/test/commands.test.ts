import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { App } from "obsidian";
// The same module the sources get for "obsidian" (vitest.config.mts aliases it), with the stub's extras.
import { FileView, Notice, TFile } from "./obsidian-stub";
import { CanvasdApi } from "../src/api";
import { openReviewCanvas, rateSelectedNode, type CommandContext } from "../src/commands";
import { Transport } from "../src/transport";
import { canvasSelection } from "../src/workspace";
import { canvas, Daemon, eventually, RED_NODE, SKIP_REASON, titled } from "./daemon";

/** A canvas view as Obsidian's looks to the plugin: a FileView of type "canvas" with `canvas.selection`. */
class FakeCanvasView extends FileView {
	constructor(path: string, readonly canvas?: { selection?: unknown }) {
		super();
		this.file = new TFile(path);
	}

	override getViewType(): string {
		return "canvas";
	}
}

/** An app whose active view is `view` and whose vault holds the files under `existing`. */
function fakeApp(view: unknown, existing: (path: string) => boolean = () => true) {
	const opened: string[] = [];
	const app = {
		workspace: {
			getActiveViewOfType: (type: abstract new (...args: never[]) => unknown) => (view instanceof type ? view : null),
			getLeaf: () => ({ openFile: (file: TFile) => { opened.push(file.path); return Promise.resolve(); } }),
		},
		vault: { getAbstractFileByPath: (path: string) => (existing(path) ? new TFile(path) : null), getName: () => "v" },
	} as unknown as App;
	return { app, opened };
}

const edge = { id: "e", from: "a", to: "b" };

describe("canvas selection (the canvas view's unofficial API, feature-detected)", () => {
	it("needs an active canvas", () => {
		expect(canvasSelection(fakeApp(null).app)).toEqual({ problem: "Open a canvas first." });
	});

	it("says so when the view has no selection set", () => {
		const result = canvasSelection(fakeApp(new FakeCanvasView("A.canvas", {})).app);
		expect(result).toHaveProperty("problem");
		expect(canvasSelection(fakeApp(new FakeCanvasView("A.canvas")).app)).toHaveProperty("problem");
	});

	it("gives the selected nodes' ids, leaving edges out", () => {
		const view = new FakeCanvasView("Math/A.canvas", { selection: new Set([{ id: "a" }, edge]) });
		expect(canvasSelection(fakeApp(view).app)).toEqual({ path: "Math/A.canvas", nodeIds: ["a"] });
	});
});

describe.skipIf(SKIP_REASON !== null)(titled("commands against a real daemon"), () => {
	let daemon: Daemon;
	let api: CanvasdApi;

	beforeAll(async () => {
		daemon = await new Daemon({
			config: { review: { enabled: true, daily_canvas: false } },
			canvases: { "A.canvas": canvas(RED_NODE, { ...RED_NODE, id: "b", y: 200, text: "y" }) },
		}).start();
		api = new CanvasdApi(new Transport(() => Promise.resolve({ kind: "unix", socketPath: daemon.socket, source: "setting" })));
		await eventually(async () => ((await api.due()).total === 2 ? true : undefined), "the card of the red node");
	});
	afterAll(async () => {
		await daemon.dispose();
	});
	beforeEach(() => {
		Notice.shown.length = 0;
	});

	const context = (app: App): CommandContext => ({ app, api, vault: () => daemon.vault });

	it("rates the selected node", async () => {
		const view = new FakeCanvasView("A.canvas", { selection: new Set([{ id: "a" }]) });
		await rateSelectedNode(context(fakeApp(view).app), "good");
		expect(Notice.shown).toHaveLength(1);
		expect(Notice.shown[0]).toMatch(/^canvasd: rated good; next review \d{4}-\d{2}-\d{2}/);
	});

	it("asks for exactly one node, and surfaces the daemon's refusal", async () => {
		const two = new FakeCanvasView("A.canvas", { selection: new Set([{ id: "a" }, { id: "b" }]) });
		await rateSelectedNode(context(fakeApp(two).app), "hard");
		expect(Notice.shown.at(-1)).toBe("Select exactly one canvas node to rate.");
		const unknown = new FakeCanvasView("A.canvas", { selection: new Set([{ id: "nope" }]) });
		await rateSelectedNode(context(fakeApp(unknown).app), "again");
		expect(Notice.shown.at(-1)).toMatch(/^canvasd: .*nope/);
	});

	it("builds today's review canvas and opens it (after one of the two cards was rated)", async () => {
		const { app, opened } = fakeApp(null, (path) => existsSync(join(daemon.vaultDir, path)));
		await openReviewCanvas(context(app));
		expect(Notice.shown).toEqual([]);
		expect(opened).toHaveLength(1);
		expect(opened[0]).toMatch(/^Review\/\d{4}-\d{2}-\d{2}\.canvas$/);
	});
});
