// Bundles what starts on every run after tsc has built dist/, into dist/bundle/, in three
// rolldown builds: the CLI (oclif and each command, sharing one copy of each module, with code
// split at every dynamic import: what loads on first use stays in a chunk of its own); the
// library's entry on its own; and bin/run.js's own start (--version and decrypt's fast path) as
// CommonJS. A start then reads a few files instead of 300–500 (oclif, yaml and their
// dependencies are hundreds of small CommonJS files); see README "Start-up".
// dist/*.js stays as tsc wrote it (types, tests, benches); package.json's exports, bin/run.js
// and oclif's command discovery point at the bundle. Run by `npm run build`.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { build } from "rolldown";

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

// Node's built-in modules as the library's chunks take them: from process.getBuiltinModule
// (Node >= 20.16; @noble/curves already needs 20.19), not through `import … from "node:fs"`. An
// ES import of a built-in makes Node build its ES facade, which reads every export once —
// node:fs's ReadStream and node:crypto's webcrypto included, which load fs/streams, internal/file
// and internal/crypto/webcrypto for nothing: ~3 ms of a service's first loadConfig here (README
// "Start-up"). Only the chunk's leading import lines are rewritten, named imports only.
const builtinsAtRuntime = {
  name: "boot-meta-builtins-at-runtime",
  renderChunk(code) {
    const lines = code.split("\n");
    for (let i = 0; i < lines.length && /^(import |\/\/|$)/.test(lines[i]); i++) {
      lines[i] = lines[i].replace(/^import \{([^}]*)\} from "(node:[^"]+)";$/, (_, names, mod) => `const {${names.replaceAll(" as ", ": ")}} = globalThis.process.getBuiltinModule(${JSON.stringify(mod)});`);
    }
    return lines.join("\n");
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
// src/entry.ts: index.ts's names, with what loadConfig needs imported statically and the rest of
// the API on first call. Everything the import loads goes in one chunk, lib/initial-*.js (split
// as rolldown would split it, it was a dozen files, each a module load); what loads on first
// use (the writers, access checks, flags, simple-git, execa, age-encryption, yaml) is in chunks
// of its own in dist/bundle/lib/. With the CLI's commands beside it, it was spread over two
// dozen chunks shared with them: hence a build of its own. No comments: the types and their
// documentation are in dist/*.d.ts.
await build({
  input: { index: join(dist, "entry.js") },
  platform: "node",
  plugins: [ownUrls, builtinsAtRuntime],
  external,
  logLevel: "warn",
  output: {
    dir: out,
    format: "esm",
    entryFileNames: "[name].js",
    chunkFileNames: "lib/[name]-[hash].js",
    comments: false,
    codeSplitting: { groups: [{ name: "initial", tags: ["$initial"] }] },
  },
});

// bin/run.js's own start, before it knows whether oclif is needed: `--version` (cli/version.ts)
// and the fast path for `decrypt` (cli/fast-path.ts), as CommonJS in dist/bundle/fast/ — a
// CommonJS entry starts without Node's ES module loader, some 5–10 ms here — with what they
// import in the entry file itself, and no comments (less to compile). What they load only on
// rare paths (the age-encryption package for post-quantum keys, execa for SOPS_AGE_KEY_CMD)
// stays in node_modules, imported as published.
const fastOut = join(out, "fast");
await build({
  input: { fast: join(dist, "cli/fast-path.js"), version: join(dist, "cli/version.js") },
  platform: "node",
  plugins: [ownUrls],
  external: [...external, /^age-encryption(\/|$)/, /^execa(\/|$)/],
  logLevel: "warn",
  output: { dir: fastOut, format: "cjs", entryFileNames: "[name].cjs", chunkFileNames: "chunks/[name]-[hash].cjs", comments: false },
});
