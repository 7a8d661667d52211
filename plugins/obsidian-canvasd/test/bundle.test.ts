import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const PLUGIN_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const read = (name: string): string => readFileSync(join(PLUGIN_DIR, name), "utf8");

describe("bundle and manifest", () => {
	beforeAll(() => {
		// `npm run build` normally ran first; build here too so the test never checks a stale or missing bundle.
		execFileSync(process.execPath, [join(PLUGIN_DIR, "esbuild.config.mjs"), "production"], { cwd: PLUGIN_DIR, stdio: "pipe" });
	}, 60_000);

	it("main.js loads Node's http with require, never with import(\"node:…\")", () => {
		expect(existsSync(join(PLUGIN_DIR, "main.js"))).toBe(true);
		const bundle = read("main.js");
		expect(bundle).not.toContain('import("node:');
		expect(bundle).toContain('require("http")');
		expect(bundle).toContain('require("obsidian")');
		expect(bundle).not.toMatch(/^import /m);
	});

	it("manifest.json and versions.json agree", () => {
		const manifest = JSON.parse(read("manifest.json")) as Record<string, unknown>;
		const versions = JSON.parse(read("versions.json")) as Record<string, string>;
		const pkg = JSON.parse(read("package.json")) as Record<string, unknown>;
		expect(manifest.id).toBe("canvasd");
		expect(manifest.name).toBe("canvasd");
		expect(manifest.isDesktopOnly).toBe(true);
		expect(typeof manifest.version).toBe("string");
		expect(versions[manifest.version as string]).toBe(manifest.minAppVersion);
		expect(pkg.version).toBe(manifest.version);
	});
});
