import { describe, expect, it } from "vitest";
import { backoffDelay } from "../src/feed";
import { SseParser } from "../src/sse";

describe("SseParser", () => {
	it("parses the daemon's format, skipping the banner, retry and keep-alive comments", () => {
		const parser = new SseParser();
		const stream = ": canvasd change feed\nretry: 2000\n\n: ping\n\nid: 7\nevent: changed\ndata: {\"cursor\":7}\n\n";
		expect(parser.push(stream)).toEqual([{ id: "7", event: "changed", data: "{\"cursor\":7}" }]);
		expect(parser.retryMs).toBe(2000);
	});

	it("handles chunks split anywhere, CRLF and CR line ends, multi-line data", () => {
		const text = "id: 1\r\nevent: a\r\ndata: x\r\ndata: y\r\n\r\nid: 2\revent: b\rdata: z\r\r";
		for (let size = 1; size <= text.length; size++) {
			const parser = new SseParser();
			const messages = [];
			for (let i = 0; i < text.length; i += size) messages.push(...parser.push(text.slice(i, i + size)));
			expect(messages, `chunks of ${size}`).toEqual([
				{ id: "1", event: "a", data: "x\ny" },
				{ id: "2", event: "b", data: "z" },
			]);
		}
	});

	it("keeps the last id, defaults the event type and ignores data-less messages", () => {
		const parser = new SseParser();
		expect(parser.push("id: 3\n\ndata: hi\n\n")).toEqual([{ id: "3", event: "message", data: "hi" }]);
	});
});

describe("backoffDelay", () => {
	const backoff = { initialMs: 100, maxMs: 1_000, jitter: 0.5 };

	it("doubles, caps and jitters", () => {
		expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, backoff, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
		expect(backoffDelay(3, backoff, () => 1)).toBe(400);
		for (let i = 0; i < 100; i++) {
			const delay = backoffDelay(50, backoff);
			expect(delay).toBeGreaterThanOrEqual(500);
			expect(delay).toBeLessThanOrEqual(1000);
		}
	});
});
