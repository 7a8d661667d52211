import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { OFFLINE_TEXT, StatusBar, type StatusTarget } from "../src/status";
import { Transport } from "../src/transport";
import { canvas, Daemon, eventually, RED_NODE, SKIP_REASON, tempDir, titled } from "./daemon";

/** An element that records what the status bar shows. */
function element(): StatusTarget & { texts: string[]; attrs: Record<string, string> } {
	const el = {
		texts: [] as string[],
		attrs: {} as Record<string, string>,
		setText(text: string) {
			el.texts.push(text);
		},
		setAttr(name: string, value: string) {
			el.attrs[name] = value;
		},
	};
	return el;
}

const on = (socketPath: string): Transport => new Transport(() => Promise.resolve({ kind: "unix", socketPath, source: "setting" }));

describe("status bar without a daemon", () => {
	it("shows 'canvasd offline' and never throws", async () => {
		const el = element();
		const status = new StatusBar(el, on(join(tempDir(), "nobody.sock")));
		await expect(status.refresh()).resolves.toBe(OFFLINE_TEXT);
		expect(el.texts.at(-1)).toBe(OFFLINE_TEXT);
		expect(el.attrs["aria-label"]).toContain("canvasd is not running");
	});

	it("stays quiet when the element itself throws", async () => {
		const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
		const broken: StatusTarget = { setText: () => { throw new Error("detached"); } };
		const status = new StatusBar(broken, on(join(tempDir(), "nobody.sock")));
		await expect(status.refresh()).resolves.toBe(OFFLINE_TEXT);
		expect(logged).toHaveBeenCalled();
		logged.mockRestore();
	});
});

describe.skipIf(SKIP_REASON !== null)(titled("status bar against a real daemon"), () => {
	let daemon: Daemon | undefined;
	afterAll(async () => {
		await daemon?.dispose();
	});

	it("shows the count of cards due today, and offline once the daemon stops", async () => {
		daemon = await new Daemon({
			config: { review: { enabled: true, daily_canvas: false } },
			canvases: { "A.canvas": canvas(RED_NODE) },
		}).start();
		const el = element();
		const status = new StatusBar(el, on(daemon.socket), { debounceMs: 10 });
		// The review subsystem makes the card while it catches up with the vault, just after the start.
		await eventually(async () => ((await status.refresh()) === "canvasd: 1 due" ? true : undefined), "1 card due");
		expect(el.attrs["aria-label"]).toBe("1 review card due today");

		await daemon.stop();
		await expect(status.refresh()).resolves.toBe(OFFLINE_TEXT);
	});

	it("refreshes (debounced) on review and canvas events only", async () => {
		const calls: string[] = [];
		const fake = { get: () => { calls.push("due"); return Promise.resolve({ total: 2 }); } } as unknown as Transport;
		const status = new StatusBar(element(), fake, { debounceMs: 10 });
		const event = (kind: string) => ({ cursor: 1, kind, vault: "v", path: "A.canvas", version: null, origin: null, time: 0 });
		status.onEvent(event("index_progress"));
		status.onEvent(event("changed"));
		status.onEvent(event("review"));
		status.onEvent(event("changed"));
		await eventually(() => (status.text === "canvasd: 2 due" ? true : undefined), "the debounced refresh");
		expect(calls).toEqual(["due"]);
	});
});
