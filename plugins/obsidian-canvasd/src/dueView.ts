import { ItemView, WorkspaceLeaf } from "obsidian";
import type { CanvasdApi } from "./api";
import { messageOf } from "./errors";
import { openFile } from "./workspace";

export const DUE_VIEW_TYPE = "canvasd-due";

/** A side panel listing today's due cards, lowest recall first; a click opens the card's canvas. */
export class DueView extends ItemView {
	private sequence = 0;

	constructor(leaf: WorkspaceLeaf, private readonly api: CanvasdApi, private readonly vault: () => string) {
		super(leaf);
	}

	getViewType(): string {
		return DUE_VIEW_TYPE;
	}

	getDisplayText(): string {
		return "Cards due today";
	}

	override getIcon(): string {
		return "calendar-check";
	}

	override async onOpen(): Promise<void> {
		await this.refresh();
	}

	/** List the cards due again (after a review, a colour change or a feed reset). */
	async refresh(): Promise<void> {
		const sequence = ++this.sequence;
		const container = this.contentEl;
		let render: (el: HTMLElement) => void;
		try {
			const due = await this.api.due(this.vault(), 100);
			render = (el) => {
				el.createDiv({ cls: "canvasd-due-total", text: `${due.total} due on ${due.on}` });
				const list = el.createEl("ul", { cls: "canvasd-due-list" });
				for (const card of due.cards) {
					const item = list.createEl("li");
					const link = item.createEl("a", { text: card.title !== "" ? card.title : card.node, href: "#" });
					item.createSpan({ cls: "canvasd-due-path", text: ` ${card.path}` });
					link.addEventListener("click", (event) => {
						event.preventDefault();
						void openFile(this.app, card.path);
					});
				}
			};
		} catch (error) {
			render = (el) => el.createDiv({ cls: "canvasd-due-error", text: messageOf(error) });
		}
		if (sequence !== this.sequence) return;
		container.empty();
		render(container);
	}
}
