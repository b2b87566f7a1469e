// How the bundle's start-up files load with a V8 code cache: the package's entry
// (dist/bundle/index.js, which loads the library's initial chunk) and dist/bundle/cached.cjs
// (with which bin/run.js loads its fast path, dist/bundle/fast/fast.cjs), both written by
// scripts/bundle.mjs from the functions below, and scripts/code-cache.mjs, which loads the same
// files with the same functions to make their caches. One implementation, so a cache is made for
// the very script that will read it.
//
// Why: `import("boot-meta")` and a first `loadConfig` are what every service pays at start-up,
// `boot-meta decrypt` and the git drivers what a developer pays at every call, and most of either
// was V8 parsing and compiling our code on its first run (README "Start-up"). Node 20 keeps no
// compile cache of its own (module.enableCompileCache is Node 22), so these files are CommonJS
// compiled as a vm.Script with cached data made after a warm-up run: the bytecode of every
// function that run ran, deserialized instead of compiled. The cache is an accelerator only: a
// cache made by another V8 (another Node version, other V8 flags) is rejected by V8 and the file
// compiles as usual; one made for other bytes than the file's (its first 32 bytes are the file's
// SHA-256) is not offered at all.

/** Beside the file: `<file>.v8cache`. */
export const CACHE_SUFFIX = ".v8cache";

/**
 * The file's CommonJS code as a vm.Script, wrapped as Node's own loader wraps a module. It
 * must have no dynamic `import()` (scripts/bundle.mjs checks): what loads later loads by
 * `require`. (Node's hook for `import()` in a vm.Script is experimental in Node 20, warns when
 * used, and does not survive a code cache made in another process.) Its text is written into
 * the loaders, so it uses nothing but its arguments.
 */
export function compileChunk(vm, source, filename, cachedData) {
  const code = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  return new vm.Script(code, { filename, cachedData });
}

/** The cached data for `source` from `cache` (a cache file's bytes): undefined unless the file was made for these bytes. */
export function cachedDataFor(createHash, source, cache) {
  if (!cache || cache.length <= 32) return undefined;
  return cache.subarray(0, 32).equals(createHash("sha256").update(source).digest()) ? cache.subarray(32) : undefined;
}

/**
 * Runs the CommonJS file `file` (an absolute, real path) as a module of Node's loader, compiled
 * with its code cache when it has one made for it: `{ exports, script }`. The module goes into
 * Node's CommonJS cache under its path before it runs, so what it loads later — and requires it
 * back for what they share (BootMetaError, the engine, …) — gets this instance, not a second one.
 * `n` is what it needs of Node: readFileSync, vm, Module, createHash, isAscii, dirname. ASCII
 * files (the bundle writes them so) are read as one-byte text. Its text is written into the
 * loaders, so it uses nothing but its arguments and the two functions above.
 */
export function loadCompiled(file, n) {
  const source = n.readFileSync(file);
  let cache;
  try {
    cache = n.readFileSync(`${file}.v8cache`);
  } catch {
    // No cache (a build that could not make one): the file compiles as usual.
  }
  const require = n.Module.createRequire(file);
  const module = new n.Module(file);
  module.filename = file;
  require.cache[file] = module;
  let script;
  try {
    script = compileChunk(n.vm, source.toString(n.isAscii(source) ? "latin1" : "utf8"), file, cachedDataFor(n.createHash, source, cache));
    script.runInThisContext()(module.exports, require, module, file, n.dirname(file));
  } catch (e) {
    // As Node's loader does: a module that failed is not kept, and the next require tries again.
    delete require.cache[file];
    throw e;
  }
  module.loaded = true;
  return { exports: module.exports, script };
}

/** `text` with every character past ASCII written as a `\u` escape: what the bundle does to the files loaded this way. */
export function asAscii(text) {
  return text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const functions = () => [compileChunk, cachedDataFor, loadCompiled].map((f) => f.toString().replace(/^export /, "")).join("\n");

/** dist/bundle/index.js: loads `chunk` (relative to the entry) and exports `names` from it. */
export function libraryEntry(chunk, names) {
  return `// The package's entry, written by scripts/bundle.mjs (scripts/library-entry.mjs says why it
// loads its initial chunk itself, with V8's code cache: README "Start-up").
const { readFileSync } = process.getBuiltinModule("node:fs");
const { isAscii } = process.getBuiltinModule("node:buffer");
const vm = process.getBuiltinModule("node:vm");
const Module = process.getBuiltinModule("node:module");
const { createHash } = process.getBuiltinModule("node:crypto");
const { fileURLToPath } = process.getBuiltinModule("node:url");
const { dirname } = process.getBuiltinModule("node:path");
${functions()}
// The path the chunks loaded later name it by: beside this file, as Node resolved this file (real,
// or as linked under --preserve-symlinks, which their require follows alike).
const file = fileURLToPath(new URL(${JSON.stringify(chunk)}, import.meta.url));
export const { ${names.join(", ")} } = loadCompiled(file, { readFileSync, vm, Module, createHash, isAscii, dirname }).exports;
`;
}

/** dist/bundle/cached.cjs: `require(it)(file)` gives the exports of the bundle's CommonJS `file` (absolute), loaded with its code cache. */
export function cachedLoader() {
  return `"use strict";
// Written by scripts/bundle.mjs (scripts/library-entry.mjs says why it loads a file of the
// bundle itself, with V8's code cache: README "Start-up"). bin/run.js loads its fast path with it.
const { readFileSync, realpathSync } = require("node:fs");
const { isAscii } = require("node:buffer");
const vm = require("node:vm");
const Module = require("node:module");
const { createHash } = require("node:crypto");
const { dirname } = require("node:path");
${functions()}
module.exports = function load(path) {
  const file = realpathSync.native(path);
  const loaded = Module.createRequire(file).cache[file];
  return loaded ? loaded.exports : loadCompiled(file, { readFileSync, vm, Module, createHash, isAscii, dirname }).exports;
};
`;
}
