import { App, Notice, Plugin } from "obsidian";
import type { CanvasdApi, Rating } from "./api";
import { messageOf } from "./errors";
import { SearchModal } from "./searchModal";
import { canvasSelection, openFile } from "./workspace";

/** What the commands need: the app, the API and the daemon's name for this vault. */
export interface CommandContext {
	app: App;
	api: CanvasdApi;
	vault(): string;
}

const RATINGS: Rating[] = ["again", "hard", "good"];

/** Build today's review canvas and open it. */
export async function openReviewCanvas(context: CommandContext): Promise<void> {
	try {
		const { path, cards } = await context.api.buildReviewCanvas(context.vault());
		// With nothing due the daemon writes nothing: open the day's canvas only if it exists already.
		if (await openFile(context.app, path, cards.length > 0 ? 5_000 : 0)) return;
		new Notice(cards.length > 0
			? `canvasd wrote ${path}, but Obsidian does not show it in this vault: is the daemon's vault this one?`
			: "Nothing is due for review today.");
	} catch (error) {
		new Notice(`canvasd: ${messageOf(error)}`);
	}
}

/** Rate the one node selected in the active canvas. */
export async function rateSelectedNode(context: CommandContext, rating: Rating): Promise<void> {
	const selection = canvasSelection(context.app);
	if ("problem" in selection) {
		new Notice(`canvasd: ${selection.problem}`);
		return;
	}
	const [node, ...others] = selection.nodeIds;
	if (node === undefined || others.length > 0) {
		new Notice("Select exactly one canvas node to rate.");
		return;
	}
	try {
		const answer = await context.api.rate(context.vault(), selection.path, node, rating);
		const due = answer.card.due.slice(0, 10);
		const counted = answer.review?.scheduled === false ? " (already reviewed today: logged only)" : "";
		new Notice(`canvasd: rated ${rating}; next review ${due}${counted}`);
	} catch (error) {
		new Notice(`canvasd: ${messageOf(error)}`);
	}
}

export function registerCommands(plugin: Plugin, context: CommandContext): void {
	plugin.addCommand({
		id: "open-review-canvas",
		name: "Build and open today's review canvas",
		callback: () => void openReviewCanvas(context),
	});
	for (const rating of RATINGS) {
		plugin.addCommand({
			id: `rate-node-${rating}`,
			name: `Rate selected node: ${rating}`,
			callback: () => void rateSelectedNode(context, rating),
		});
	}
	plugin.addCommand({
		id: "search-canvases",
		name: "Search canvases",
		callback: () => new SearchModal(context.app, context.api, context.vault()).open(),
	});
}
