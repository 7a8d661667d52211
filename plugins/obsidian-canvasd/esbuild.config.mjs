import { builtinModules } from "node:module";
import esbuild from "esbuild";

const production = process.argv[2] === "production";

// Node's builtins stay `require(...)` calls: Obsidian's desktop app provides them at run time.
const builtins = builtinModules.flatMap((name) => [name, `node:${name}`]);

const context = await esbuild.context({
	entryPoints: ["src/main.ts"],
	bundle: true,
	external: ["obsidian", "electron", "@codemirror/*", "@lezer/*", ...builtins],
	format: "cjs",
	platform: "node",
	target: "es2021",
	logLevel: "info",
	sourcemap: production ? false : "inline",
	treeShaking: true,
	minify: false,
	outfile: "main.js",
});

if (production) {
	await context.rebuild();
	await context.dispose();
} else {
	await context.watch();
}
