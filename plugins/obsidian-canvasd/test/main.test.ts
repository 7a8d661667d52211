import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { FakeElement } from "./obsidian-stub";
import CanvasdPlugin from "../src/main";
import { eventually, tempDir } from "./daemon";

describe("plugin lifecycle", () => {
	it("registers its commands, view, settings and status item, and unload undoes what it registered", async () => {
		const handlers = new Set<string>();
		const on = (name: string) => {
			handlers.add(name);
			return { off: () => handlers.delete(name) };
		};
		const app = {
			vault: { getName: () => "v", on },
			workspace: { onLayoutReady: (callback: () => void) => callback(), getLeavesOfType: () => [], on },
		};
		const plugin = new CanvasdPlugin(app as never, {} as never);
		const stub = plugin as unknown as {
			data: unknown; commands: { id: string }[]; views: Map<string, unknown>; tabs: unknown[];
			statusItems: FakeElement[]; registered: number;
		};
		stub.data = { socketPath: join(tempDir(), "nobody.sock") };
		await plugin.onload();

		expect(stub.commands.map((c) => c.id).sort()).toEqual([
			"open-review-canvas", "rate-node-again", "rate-node-good", "rate-node-hard", "search-canvases", "show-due-cards",
		]);
		expect([...stub.views.keys()]).toEqual(["canvasd-due"]);
		expect(stub.tabs).toHaveLength(1);
		expect(stub.statusItems).toHaveLength(1);
		await eventually(() => (stub.statusItems[0]?.text === "canvasd offline" ? true : undefined), "the offline status");
		expect(stub.registered).toBeGreaterThanOrEqual(3); // the status bar, the feed and the refresh interval

		expect([...handlers].sort()).toEqual(["active-leaf-change", "file-open", "layout-change", "rename"]);
		expect(plugin.leases?.client).toMatch(/^obsidian-[0-9a-f]{12}$/);

		plugin.unload();
		expect(stub.registered).toBe(0);
		expect(handlers.size).toBe(0);
	});
});
