/** One Server-Sent Events message. */
export interface SseMessage {
	/** The last event id seen so far on the stream (the `id:` field carries over to later messages). */
	id: string;
	event: string;
	data: string;
}

/**
 * An incremental Server-Sent Events parser (the WHATWG event-stream rules): feed it text as it arrives.
 *
 * Lines end in LF, CRLF or CR; `:` lines are comments (the daemon's keep-alive pings); a blank line ends a
 * message; `data:` lines join with LF; `retry:` takes digits only; an `id` holding NUL is ignored.
 */
export class SseParser {
	/** The reconnection delay the server asked for (`retry:`), in ms, or null. */
	retryMs: number | null = null;
	private buffer = "";
	private lastId = "";
	private eventType = "";
	private data: string[] = [];
	private pendingCr = false;

	/** The messages completed by `chunk`. */
	push(chunk: string): SseMessage[] {
		let text = chunk;
		if (this.pendingCr) {
			// A CR at the end of the previous chunk already ended its line: skip the LF of a split CRLF.
			if (text.startsWith("\n")) text = text.slice(1);
			this.pendingCr = false;
		}
		this.buffer += text;
		const messages: SseMessage[] = [];
		let start = 0;
		for (let i = 0; i < this.buffer.length; i++) {
			const c = this.buffer[i];
			if (c !== "\n" && c !== "\r") continue;
			const line = this.buffer.slice(start, i);
			if (c === "\r") {
				if (i + 1 < this.buffer.length) {
					if (this.buffer[i + 1] === "\n") i++;
				} else {
					this.pendingCr = true;
				}
			}
			start = i + 1;
			const message = this.line(line);
			if (message !== null) messages.push(message);
		}
		this.buffer = this.buffer.slice(start);
		return messages;
	}

	private line(line: string): SseMessage | null {
		if (line === "") return this.dispatch();
		if (line.startsWith(":")) return null;
		const colon = line.indexOf(":");
		const field = colon === -1 ? line : line.slice(0, colon);
		let value = colon === -1 ? "" : line.slice(colon + 1);
		if (value.startsWith(" ")) value = value.slice(1);
		switch (field) {
			case "event":
				this.eventType = value;
				break;
			case "data":
				this.data.push(value);
				break;
			case "id":
				if (!value.includes("\0")) this.lastId = value;
				break;
			case "retry":
				if (/^\d+$/.test(value)) this.retryMs = Number(value);
				break;
			default:
				break;
		}
		return null;
	}

	private dispatch(): SseMessage | null {
		const data = this.data;
		const event = this.eventType;
		this.data = [];
		this.eventType = "";
		if (data.length === 0) return null;
		return { id: this.lastId, event: event === "" ? "message" : event, data: data.join("\n") };
	}
}
