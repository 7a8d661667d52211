import { afterEach, describe, expect, it } from "vitest";
import { ChangeFeed, type ChangeEvent, type FeedOptions, type FeedState } from "../src/feed";
import { Transport } from "../src/transport";
import { canvas, Daemon, eventually, RED_NODE, SKIP_REASON, titled } from "./daemon";

/** A feed on `daemon` that records what it sees. */
function follow(daemon: Daemon, options: FeedOptions = {}) {
	const events: ChangeEvent[] = [];
	const states: FeedState[] = [];
	const resets: number[] = [];
	const transport = new Transport(() => Promise.resolve({ kind: "unix", socketPath: daemon.socket, source: "setting" }));
	const feed = new ChangeFeed(transport, {
		backoff: { initialMs: 50, maxMs: 500 },
		onEvent: (event) => events.push(event),
		onState: (state) => states.push(state),
		onReset: (cursor) => {
			resets.push(cursor);
		},
		...options,
	});
	return { feed, events, states, resets };
}

const node = (id: string) => ({ ...RED_NODE, id });

describe.skipIf(SKIP_REASON !== null)(titled("change feed against a real daemon"), () => {
	const cleanup: (() => Promise<void> | void)[] = [];
	afterEach(async () => {
		for (const step of cleanup.splice(0).reverse()) await step();
	});

	async function daemon(config: Record<string, unknown> = {}): Promise<Daemon> {
		const d = new Daemon({ config });
		cleanup.push(() => d.dispose());
		return d.start();
	}

	function watch(d: Daemon, options: FeedOptions = {}) {
		const followed = follow(d, options);
		cleanup.push(() => followed.feed.stop());
		followed.feed.start();
		return followed;
	}

	it("delivers events for a canvas the test writes, and remembers the cursor", async () => {
		const d = await daemon();
		const { feed, events } = watch(d);
		await eventually(() => (feed.connected ? true : undefined), "the feed to connect");
		d.writeCanvas("B.canvas", canvas(node("b")));
		const created = await eventually(() => events.find((e) => e.path === "B.canvas"), "an event for B.canvas");
		expect(created.kind).toBe("created");
		expect(created.vault).toBe("v");
		expect(created.origin).toBe("external");
		expect(feed.cursor).toBe(created.cursor);
	});

	it("resumes with since after a disconnect and gets the missed events", async () => {
		const d = await daemon();
		const { feed, events } = watch(d);
		await eventually(() => (feed.connected ? true : undefined), "the feed to connect");
		d.writeCanvas("B.canvas", canvas(node("b")));
		await eventually(() => events.find((e) => e.path === "B.canvas"), "the first event");
		feed.stop();
		const before = feed.cursor ?? 0;

		// While the client is away: two changes, seen by another client so we know the daemon has them.
		const other = watch(d);
		await eventually(() => (other.feed.connected ? true : undefined), "the second feed to connect");
		d.writeCanvas("C.canvas", canvas(node("c")));
		d.writeCanvas("B.canvas", canvas(node("b"), node("b2")));
		await eventually(() => (other.events.some((e) => e.path === "C.canvas") && other.events.some((e) => e.path === "B.canvas") ? true : undefined),
			"the changes made while away");

		events.length = 0;
		feed.start();
		await eventually(() => (events.some((e) => e.path === "C.canvas") && events.some((e) => e.path === "B.canvas") ? true : undefined),
			"the missed events after resuming");
		expect(events.every((e) => e.cursor > before)).toBe(true);
		expect(events.find((e) => e.path === "B.canvas")?.kind).toBe("changed");
	});

	it("reconnects when the daemon is restarted on the same socket (and re-lists: a cursor from the old run)", async () => {
		const d = await daemon();
		const { feed, events, states, resets } = watch(d);
		await eventually(() => (feed.connected ? true : undefined), "the feed to connect");
		d.writeCanvas("B.canvas", canvas(node("b")));
		await eventually(() => events.find((e) => e.path === "B.canvas"), "an event before the restart");

		await d.stop();
		await eventually(() => (feed.state === "offline" ? true : undefined), "the feed to notice the daemon is gone");
		await d.start();
		await eventually(() => (feed.connected ? true : undefined), "the feed to reconnect");
		await eventually(() => (resets.length > 0 ? true : undefined), "the reset for a cursor from the earlier run");

		d.writeCanvas("C.canvas", canvas(node("c")));
		const after = await eventually(() => events.find((e) => e.path === "C.canvas"), "an event after the restart");
		expect(after.cursor).toBeGreaterThan(resets[0] ?? Infinity);
		expect(states).toContain("offline");
		expect(states.filter((s) => s === "connected").length).toBeGreaterThanOrEqual(2);
	});

	it("a since older than the history gets reset, which calls the re-list callback", async () => {
		const d = await daemon({ watcher: { history: 4 } });
		const { feed, events, resets } = watch(d);
		await eventually(() => (feed.connected ? true : undefined), "the feed to connect");
		d.writeCanvas("first.canvas", canvas(node("f")));
		await eventually(() => events.find((e) => e.path === "first.canvas"), "the first event");
		feed.stop();
		const old = feed.cursor ?? 0;

		const other = watch(d);
		await eventually(() => (other.feed.connected ? true : undefined), "the second feed to connect");
		const paths = ["n1", "n2", "n3", "n4", "n5", "n6"].map((name) => `${name}.canvas`);
		// One at a time: with a history of 4 a live client more than 4 events behind is reset too.
		for (const path of paths) {
			d.writeCanvas(path, canvas(node(path)));
			await eventually(() => other.events.find((e) => e.path === path), `the event for ${path} while away`);
		}

		events.length = 0;
		feed.start();
		const cursor = await eventually(() => resets[0], "the reset");
		expect(cursor).toBeGreaterThan(old + 4);
		expect(feed.cursor).toBeGreaterThanOrEqual(cursor);
		expect(events).toEqual([]);

		// And it follows on from the reset's cursor.
		d.writeCanvas("after.canvas", canvas(node("z")));
		const after = await eventually(() => events.find((e) => e.path === "after.canvas"), "an event after the reset");
		expect(after.cursor).toBeGreaterThan(cursor);
	});
});
