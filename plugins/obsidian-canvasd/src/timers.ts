/** Timers through `window`, so they belong to Obsidian's main window (and tests can stand one in). */
export interface Timers {
	setTimeout(callback: () => void, ms: number): number;
	clearTimeout(id: number): void;
}

export const windowTimers: Timers = {
	setTimeout: (callback, ms) => window.setTimeout(callback, ms),
	clearTimeout: (id) => window.clearTimeout(id),
};

/** `callback` at most once per `ms`, after the last call: the status bar's refresh on bursts of events. */
export class Debouncer {
	private timer: number | null = null;

	constructor(private readonly callback: () => void, private readonly ms: number, private readonly timers: Timers = windowTimers) {}

	trigger(): void {
		this.cancel();
		this.timer = this.timers.setTimeout(() => {
			this.timer = null;
			this.callback();
		}, this.ms);
	}

	cancel(): void {
		if (this.timer !== null) this.timers.clearTimeout(this.timer);
		this.timer = null;
	}
}
