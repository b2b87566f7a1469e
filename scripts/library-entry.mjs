// The package's entry, dist/bundle/index.js, as scripts/bundle.mjs writes it, and what
// scripts/code-cache.mjs needs to make the code cache that entry reads: both compile the initial
// chunk with `compileChunk` below, so the cache is made for the very script the entry compiles.
//
// Why: `import("boot-meta")` and a first `loadConfig` are what every service pays at start-up,
// and most of it was V8 parsing and compiling our code on its first run (README "Start-up"). Node
// 20 keeps no compile cache for ES modules (module.enableCompileCache is Node 22), so the entry
// compiles the initial chunk (CommonJS) as a vm.Script with cached data made after a warm-up load:
// the bytecode of every function that load ran, deserialized instead of compiled. The cache is an
// accelerator only: a cache made by another V8 (another Node version, other V8 flags) is rejected
// by V8 and the chunk compiles as usual; one made for other bytes than the chunk's (its first 32
// bytes are the chunk's SHA-256) is not offered at all.

/** Beside the chunk: `<chunk>.v8cache`. */
export const CACHE_SUFFIX = ".v8cache";

/**
 * The chunk's CommonJS code as a vm.Script, wrapped as Node's own loader wraps a module; dynamic
 * `import()` (none today: lazy chunks load by `require`) would resolve as in the main context.
 * Runs inside the entry too (its text is written there), so it uses nothing but its arguments.
 */
export function compileChunk(vm, source, filename, cachedData) {
  const code = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  return new vm.Script(code, { filename, cachedData, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
}

/**
 * The cached data for `source` from `cache` (a cache file's bytes): undefined unless the file was
 * made for these bytes. Written into the entry as well.
 */
export function cachedDataFor(createHash, source, cache) {
  if (!cache || cache.length <= 32) return undefined;
  return cache.subarray(0, 32).equals(createHash("sha256").update(source).digest()) ? cache.subarray(32) : undefined;
}

/** A cache file's bytes: the chunk's SHA-256, then V8's data. */
export function cacheFile(createHash, source, data) {
  return Buffer.concat([createHash("sha256").update(source).digest(), data]);
}

/** dist/bundle/index.js: compiles `chunk` (relative to the entry) and exports `names` from it. */
export function libraryEntry(chunk, names) {
  return `// The package's entry, written by scripts/bundle.mjs (scripts/library-entry.mjs says why it
// compiles its initial chunk itself, with V8's code cache: README "Start-up").
const { readFileSync, realpathSync } = process.getBuiltinModule("node:fs");
const { isAscii } = process.getBuiltinModule("node:buffer");
const vm = process.getBuiltinModule("node:vm");
const Module = process.getBuiltinModule("node:module");
const { createHash } = process.getBuiltinModule("node:crypto");
const { fileURLToPath } = process.getBuiltinModule("node:url");
const { dirname } = process.getBuiltinModule("node:path");
${compileChunk.toString().replace(/^export /, "")}
${cachedDataFor.toString().replace(/^export /, "")}
const file = realpathSync.native(fileURLToPath(new URL(${JSON.stringify(chunk)}, import.meta.url)));
const source = readFileSync(file);
let cache;
try {
  cache = readFileSync(file + ${JSON.stringify(CACHE_SUFFIX)});
} catch {
  // No cache (a build that could not make one): the chunk compiles as usual.
}
// A module of Node's CommonJS loader, in its cache under the chunk's path: the chunks that load
// later take what they share with this one (BootMetaError, the engine, …) by \`require\`-ing it,
// and must get this instance, not a second one.
const require = Module.createRequire(file);
const module = new Module(file);
module.filename = file;
require.cache[file] = module;
compileChunk(vm, source.toString(isAscii(source) ? "latin1" : "utf8"), file, cachedDataFor(createHash, source, cache)).runInThisContext()(module.exports, require, module, file, dirname(file));
module.loaded = true;
export const { ${names.join(", ")} } = module.exports;
`;
}
