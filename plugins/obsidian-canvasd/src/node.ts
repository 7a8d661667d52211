import { Platform } from "obsidian";

/** The Node modules canvasd's client needs; only the desktop app has them. */
export interface NodeModules {
	http: typeof import("http");
	fs: typeof import("fs");
	os: typeof import("os");
}

let cached: NodeModules | null = null;

/**
 * Node's modules through `require`, behind the desktop guard.
 *
 * A dynamic `import("node:http")` fails in Obsidian's renderer, and a static import would break loading on
 * mobile, so the bundle keeps plain `require("http")` calls that only run on the desktop.
 */
export function nodeModules(): NodeModules {
	if (cached !== null) return cached;
	if (!Platform.isDesktop) {
		throw new Error("canvasd needs Obsidian's desktop app: it talks to the daemon over a Unix socket");
	}
	/* eslint-disable @typescript-eslint/no-require-imports -- see the doc comment: require is the only form that works */
	cached = {
		http: require("http") as typeof import("http"),
		fs: require("fs") as typeof import("fs"),
		os: require("os") as typeof import("os"),
	};
	/* eslint-enable @typescript-eslint/no-require-imports -- the require block ends here */
	return cached;
}
