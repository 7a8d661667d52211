import { App, Notice, SuggestModal } from "obsidian";
import type { CanvasdApi, SearchHit } from "./api";
import { messageOf } from "./errors";
import { openFile } from "./workspace";

/** "Search canvases": results of `GET /v1/search` as the user types; choosing one opens its canvas. */
export class SearchModal extends SuggestModal<SearchHit> {
	private latest = 0;

	constructor(app: App, private readonly api: CanvasdApi, private readonly vault: string) {
		super(app);
		this.setPlaceholder("Search every canvas node by meaning and words");
		this.emptyStateText = "Type to search your canvases.";
	}

	async getSuggestions(query: string): Promise<SearchHit[]> {
		const q = query.trim();
		if (q === "") return [];
		const request = ++this.latest;
		try {
			const hits = await this.api.search(q, this.vault);
			if (request === this.latest) this.emptyStateText = "No canvas node matches.";
			return hits;
		} catch (error) {
			if (request === this.latest) this.emptyStateText = messageOf(error);
			return [];
		}
	}

	renderSuggestion(hit: SearchHit, el: HTMLElement): void {
		el.createDiv({ text: hit.snippet !== "" ? hit.snippet : hit.node_id });
		const where = hit.state !== null && hit.state !== "" ? `${hit.path} · ${hit.state}` : hit.path;
		el.createEl("small", { text: where, cls: "canvasd-search-where" });
	}

	onChooseSuggestion(hit: SearchHit): void {
		void openFile(this.app, hit.path).then((opened) => {
			if (!opened) new Notice(`canvasd: ${hit.path} is not in this vault.`);
		});
	}
}
