// Bundles what starts on every run after tsc has built dist/, into dist/bundle/, in three
// rolldown builds: the CLI (oclif and each command, sharing one copy of each module, with code
// split at every dynamic import: what loads on first use stays in a chunk of its own); the
// library's entry on its own; and bin/run.js's own start (--version and decrypt's fast path) as
// CommonJS. A start then reads a few files instead of 300–500 (oclif, yaml and their
// dependencies are hundreds of small CommonJS files); see README "Start-up".
// dist/*.js stays as tsc wrote it (types, tests, benches); package.json's exports, bin/run.js
// and oclif's command discovery point at the bundle. Run by `npm run build`.
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import { build } from "rolldown";
import { asAscii, cachedLoader, libraryEntry } from "./library-entry.mjs";

const root = join(import.meta.dirname, "..");
const dist = join(root, "dist");
const out = join(dist, "bundle");

const input = { cli: join(dist, "cli/main.js") };
for (const f of readdirSync(join(dist, "commands"), { recursive: true, encoding: "utf8" })) {
  if (f.endsWith(".js")) input[`commands/${f.slice(0, -3)}`] = join(dist, "commands", f);
}

// Whatever else oclif loads by path — hooks, a help class — runs from the bundle too when
// package.json names it under ./dist/bundle/ (built from the same path under dist/): outside
// it, it would load a second oclif from node_modules.
const { oclif } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const targets = (v) => (typeof v === "string" ? [v] : Array.isArray(v) ? v.flatMap(targets) : v && typeof v === "object" && typeof v.target === "string" ? [v.target] : []);
for (const t of [...Object.values(oclif.hooks ?? {}), oclif.helpClass].flatMap(targets)) {
  const rel = /^\.\/dist\/bundle\/(.+)\.js$/.exec(t)?.[1];
  if (rel) input[rel] = join(dist, `${rel}.js`);
}

// Each of our modules keeps the import.meta.url it had in dist/, so that what it finds relative
// to itself (records/codec.ts reads ../../proto/…) is where it was before bundling, in
// whichever chunk it lands. Marked at transform time, rewritten once the chunk's place is known.
const MARK = "__bootMetaModuleUrl__";
const ownUrls = {
  name: "boot-meta-own-import-meta-url",
  transform(code, id) {
    if (!id.startsWith(dist + sep) || !code.includes("import.meta.url")) return null;
    return { code: code.replaceAll("import.meta.url", `${MARK}(${JSON.stringify(relative(dist, id).split(sep).join("/"))})`) };
  },
  renderChunk(code, chunk, options) {
    const here = options.format === "cjs" ? `require("node:url").pathToFileURL(__filename).href` : "import.meta.url";
    return code.replace(new RegExp(`${MARK}\\(("[^"]*")\\)`, "g"), (_, file) => {
      const rel = relative(dirname(join(options.dir, chunk.fileName)), join(dist, JSON.parse(file))).split(sep).join("/");
      return `new URL(${JSON.stringify(rel.startsWith(".") ? rel : `./${rel}`)}, ${here}).href`;
    });
  },
};

// oclif requires typescript only to run a plugin from its .ts sources, which boot-meta never does.
// The service's stack (fastify, pino, prom-client, NATS) loads only in `serve` and the clients
// that follow it, where start-up is paid once: it is loaded from node_modules as published
// (pino finds its worker files by path, which a bundle would break).
const external = ["typescript", /^fastify(\/|$)/, /^pino(\/|$)/, /^prom-client(\/|$)/, /^@nats-io\//];

rmSync(out, { recursive: true, force: true });
await build({
  input,
  platform: "node",
  plugins: [ownUrls],
  external,
  logLevel: "warn",
  output: { dir: out, format: "esm", chunkFileNames: "chunks/[name]-[hash].js" },
});

// The library's entry (package.json's exports: dist/bundle/index.js), a build of its own, from
// src/entry.ts: index.ts's names, with what loadConfig needs loaded by the import and the rest of
// the API on first call. Everything the import loads goes in one chunk, lib/initial-*.cjs (split
// as rolldown would split it, it was a dozen files, each a module load); what loads on first
// use (the writers, access checks, flags, simple-git, execa, age-encryption) is in chunks of its
// own in dist/bundle/lib/. With the CLI's commands beside it, it was spread over two dozen
// chunks shared with them: hence a build of its own. No comments: the types and their
// documentation are in dist/*.d.ts.
//
// CommonJS, so that dist/bundle/index.js can compile the initial chunk itself with V8's code
// cache (scripts/code-cache.mjs writes it after a warm-up load; Node 20 has no compile cache of
// its own for ES modules): an import then deserializes the bytecode of every function a first
// load runs instead of parsing and compiling them (README "Start-up").
const libOut = join(out, "lib");
await build({
  input: { index: join(dist, "entry.js") },
  platform: "node",
  plugins: [ownUrls],
  external,
  logLevel: "warn",
  output: {
    dir: libOut,
    format: "cjs",
    entryFileNames: "[name].cjs",
    chunkFileNames: "[name]-[hash].cjs",
    comments: false,
    codeSplitting: { groups: [{ name: "initial", tags: ["$initial"] }] },
  },
});
// index.cjs only re-exports the initial chunk, which the ES entry compiles itself: its names are
// what the entry exports.
const initial = readdirSync(libOut).find((f) => /^initial-[\w-]+\.cjs$/.test(f));
if (!initial) throw new Error("the library build made no initial chunk");
// In ASCII, so the entry reads it as a one-byte string (latin1: a copy, where UTF-8 decoding of
// a file with one "…" in it made a two-byte string at four times the cost, twice the memory).
// Outside strings, templates and regular expressions the code has no such character (comments
// are gone), and inside them an escape means the same character.
const initialFile = join(libOut, initial);
writeFileSync(initialFile, asAscii(readFileSync(initialFile, "utf8")));
const names = Object.keys(createRequire(import.meta.url)(join(libOut, "index.cjs"))).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
rmSync(join(libOut, "index.cjs"));
writeFileSync(join(out, "index.js"), libraryEntry(`./lib/${initial}`, names));

// bin/run.js's own start, before it knows whether oclif is needed: `--version` (cli/version.ts)
// and the fast path for `decrypt` (cli/fast-path.ts), as CommonJS in dist/bundle/fast/ — a
// CommonJS entry starts without Node's ES module loader, some 5–10 ms here — with what they
// import in the entry file itself, and no comments (less to compile). What they load only on
// rare paths (the age-encryption package for post-quantum keys, execa for SOPS_AGE_KEY_CMD and
// the merge driver's fallback to git) is in chunks of its own, loaded by `require` when used:
// fast.cjs runs as a vm.Script (below), where an `import()` would need Node's experimental
// loader hook, and that hook does not survive a code cache made in another process.
const fastOut = join(out, "fast");
await build({
  input: { fast: join(dist, "cli/fast-path.js"), version: join(dist, "cli/version.js") },
  platform: "node",
  plugins: [ownUrls],
  external,
  logLevel: "warn",
  output: { dir: fastOut, format: "cjs", entryFileNames: "[name].cjs", chunkFileNames: "chunks/[name]-[hash].cjs", comments: false },
});
// fast.cjs loads through dist/bundle/cached.cjs with a code cache, as the library's chunk does
// (scripts/library-entry.mjs), in ASCII for the same reason.
writeFileSync(join(fastOut, "fast.cjs"), asAscii(readFileSync(join(fastOut, "fast.cjs"), "utf8")));
for (const f of [join(fastOut, "fast.cjs"), initialFile]) {
  if (/\bimport\(/.test(readFileSync(f, "utf8"))) throw new Error(`${f} has a dynamic import(), which a vm.Script without Node's experimental loader hook cannot run: bundle what it imports`);
}
writeFileSync(join(out, "cached.cjs"), cachedLoader());
