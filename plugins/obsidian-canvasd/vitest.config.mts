import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
	resolve: {
		// Obsidian's API exists only inside the app: tests run against a small stand-in.
		alias: { obsidian: fileURLToPath(new URL("./test/obsidian-stub.ts", import.meta.url)) },
	},
	test: {
		include: ["test/**/*.test.ts"],
		setupFiles: ["test/setup.ts"],
		testTimeout: 60_000,
		hookTimeout: 60_000,
		// Each file starts its own daemons; two cores are enough for two files at once.
		maxWorkers: 2,
	},
});
