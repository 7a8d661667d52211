import { App, FileView, TFile } from "obsidian";

/** A canvas view's node, as far as the plugin relies on it. */
interface CanvasNodeLike {
	id: string;
}

/** The unofficial part of the canvas view that the plugin feature-detects. */
interface CanvasLike {
	selection?: unknown;
}

/** What the active canvas view has selected: its file and the nodes' ids, or why there is none. */
export type Selection = { path: string; nodeIds: string[] } | { problem: string };

/**
 * The selected nodes of the active canvas view.
 *
 * The canvas view's internals are not part of Obsidian's API: `view.canvas.selection` (a Set of nodes with
 * an `id`; edges have `from`/`to` as well) is used only when it is there.
 */
export function canvasSelection(app: App): Selection {
	const view = app.workspace.getActiveViewOfType(FileView);
	if (view === null || view.getViewType() !== "canvas" || view.file === null) return { problem: "Open a canvas first." };
	const canvas = (view as unknown as { canvas?: CanvasLike }).canvas;
	const selection = canvas?.selection;
	if (!(selection instanceof Set)) return { problem: "This version of Obsidian does not tell plugins which canvas nodes are selected." };
	const nodeIds = [...(selection as Set<unknown>)]
		.filter((item): item is CanvasNodeLike & Record<string, unknown> =>
			typeof item === "object" && item !== null && typeof (item as CanvasNodeLike).id === "string" && !("from" in item && "to" in item))
		.map((node) => node.id);
	return { path: view.file.path, nodeIds };
}

/** Open the vault file at `path`, waiting up to `waitMs` for Obsidian to notice a file the daemon just wrote. */
export async function openFile(app: App, path: string, waitMs = 5_000): Promise<boolean> {
	const deadline = Date.now() + waitMs;
	for (;;) {
		const file = app.vault.getAbstractFileByPath(path);
		if (file instanceof TFile) {
			await app.workspace.getLeaf(false).openFile(file);
			return true;
		}
		if (Date.now() >= deadline) return false;
		await new Promise<void>((resolve) => window.setTimeout(resolve, 200));
	}
}
