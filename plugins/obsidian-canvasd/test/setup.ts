import { createRequire } from "node:module";
import { afterAll } from "vitest";
import { removeTempDirs } from "./daemon";

// Obsidian's renderer has a CommonJS `require` and a `window`; vitest's ESM has neither.
const scope = globalThis as Record<string, unknown>;
scope.require ??= createRequire(import.meta.url);
scope.window ??= globalThis;

afterAll(() => removeTempDirs());
