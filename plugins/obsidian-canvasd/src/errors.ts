/** Errors a canvasd client meets: the daemon's answer, no daemon, or a setup it cannot use. */

/** The daemon refused: its JSON error `{"error": {"code", "message", "details"}}` and the HTTP status. */
export class DaemonError extends Error {
	override name = "DaemonError";

	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly details: Record<string, unknown> = {},
	) {
		super(message);
	}
}

/** No daemon answers where the client looked (no socket, refused, reset, timed out). */
export class OfflineError extends Error {
	override name = "OfflineError";

	constructor(readonly where: string, readonly reason: string) {
		super(`canvasd is not running at ${where} (${reason}); start it with 'canvasd serve'`);
	}
}

/** The client's settings cannot work (a TCP port without a token file, an unreadable token). */
export class SetupError extends Error {
	override name = "SetupError";
}

/** The message to show a user for any error. */
export function messageOf(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}
