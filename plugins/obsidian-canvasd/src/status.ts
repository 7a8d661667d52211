import { DaemonError, OfflineError, messageOf } from "./errors";
import type { ChangeEvent } from "./feed";
import { Debouncer, windowTimers, type Timers } from "./timers";
import type { Transport } from "./transport";

/** What the status bar item needs of an element (Obsidian's `HTMLElement` has both). */
export interface StatusTarget {
	setText(text: string): void;
	setAttr?(name: string, value: string): void;
}

export const OFFLINE_TEXT = "canvasd offline";

/** Events that can change the count of cards due: reviews, and canvases (colours) changing. */
const REFRESHING_KINDS = new Set(["review", "created", "changed", "deleted", "vault_restored", "vault_missing"]);

export interface StatusOptions {
	debounceMs?: number;
	timers?: Timers;
}

/** The status bar item: "canvasd offline", or the count of review cards due today. Never throws. */
export class StatusBar {
	text = "";
	private sequence = 0;
	private readonly debouncer: Debouncer;

	constructor(private readonly target: StatusTarget, private readonly transport: Transport, options: StatusOptions = {}) {
		this.debouncer = new Debouncer(() => void this.refresh(), options.debounceMs ?? 1_000, options.timers ?? windowTimers);
		this.show(OFFLINE_TEXT, "canvasd: not connected yet");
	}

	/** Ask the daemon for today's due count and show it; the text shown. */
	async refresh(): Promise<string> {
		const sequence = ++this.sequence;
		let text: string;
		let tooltip: string;
		try {
			const due = await this.transport.get<{ total?: unknown }>("/v1/review/due", { limit: 1 });
			const total = typeof due.total === "number" ? due.total : 0;
			text = `canvasd: ${total} due`;
			tooltip = `${total} review card${total === 1 ? "" : "s"} due today`;
		} catch (error) {
			if (error instanceof OfflineError) {
				[text, tooltip] = [OFFLINE_TEXT, error.message];
			} else if (error instanceof DaemonError && error.code === "subsystem_unavailable") {
				[text, tooltip] = ["canvasd: review off", error.message];
			} else {
				[text, tooltip] = ["canvasd: error", messageOf(error)];
			}
		}
		// A slower, older refresh must not overwrite a newer answer.
		if (sequence === this.sequence) this.show(text, tooltip);
		return this.text;
	}

	/** A change-feed event: refresh soon when it can change what is due. */
	onEvent(event: ChangeEvent): void {
		if (REFRESHING_KINDS.has(event.kind)) this.debouncer.trigger();
	}

	/** The feed lost the daemon: show it at once (a refresh in flight is superseded). */
	setOffline(reason: string): void {
		this.sequence++;
		this.debouncer.cancel();
		this.show(OFFLINE_TEXT, reason);
	}

	dispose(): void {
		this.sequence++;
		this.debouncer.cancel();
	}

	private show(text: string, tooltip: string): void {
		this.text = text;
		try {
			this.target.setText(text);
			this.target.setAttr?.("aria-label", tooltip);
		} catch (error) {
			console.error("canvasd: the status bar could not be updated", error);
		}
	}
}
