// Writes the code caches the bundle's start-up files load with (scripts/library-entry.mjs says
// why): dist/bundle/lib/initial-*.cjs.v8cache for the package's entry and
// dist/bundle/fast/fast.cjs.v8cache for bin/run.js's fast path. Loads each file as its loader
// does, runs what a start runs — loadConfig from a clone with loose objects and from one whose
// objects are packed, with the key named by SOPS_AGE_KEY_FILE and given as an option; `decrypt`
// of a file to a file and the git textconv driver — and then asks V8 for the bytecode of every
// function compiled so far. The repositories and the key are made here, in a temp folder, and
// removed. Run by `npm run build`, after scripts/bundle.mjs. Without git (or anything else this
// needs) the build goes on without caches: the files work the same, only compile more at start.
import { isAscii } from "node:buffer";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import vm from "node:vm";
import { CACHE_SUFFIX, loadCompiled } from "./library-entry.mjs";
import { serviceRepo } from "./service-repo.mjs";

// git's location variables (a build run from a git hook has GIT_DIR set) would send the warm-up's
// repositories into the caller's.
for (const k of Object.keys(process.env)) if (k.startsWith("GIT_")) delete process.env[k];

const root = join(import.meta.dirname, "..");
const dist = join(root, "dist");
const lib = join(dist, "bundle", "lib");
const node = { readFileSync, vm, Module, createHash, isAscii, dirname };

/** Writes `file`'s cache from `script`, whole or not at all (beside it, then renamed over any older one). */
function save(file, script) {
  const source = readFileSync(file);
  writeFileSync(`${file}${CACHE_SUFFIX}.tmp`, Buffer.concat([createHash("sha256").update(source).digest(), script.createCachedData()]));
  renameSync(`${file}${CACHE_SUFFIX}.tmp`, file + CACHE_SUFFIX);
}

const work = mkdtempSync(join(tmpdir(), "boot-meta-code-cache-"));
try {
  const { generateAgeKey } = await import(join(dist, "sops/age.js"));

  // A key made for this warm-up only, and the repo bench/startup.bench.mjs measures a first load on.
  const key = await generateAgeKey();
  const keyFile = join(work, "key.txt");
  writeFileSync(keyFile, `# made by scripts/code-cache.mjs for one warm-up load, then removed\n${key.identity}\n`, { mode: 0o600 });
  const loose = join(work, "loose");
  const values = [["database.url", "postgres://db/shop"], ["log.level", "info"], ["port", 8080n], ["debug", false]];
  await serviceRepo(dist, loose, key, values, "boot-meta build <build@boot-meta.invalid>");
  const packed = join(work, "packed");
  execFileSync("git", ["clone", "-q", loose, packed], { stdio: "ignore" });
  execFileSync("git", ["-C", packed, "gc", "-q", "--aggressive"], { stdio: "ignore" });
  const sopsFile = join(loose, "shop/envs/prod/config.sops.yaml");
  const environment = { PATH: process.env.PATH, HOME: work, SOPS_AGE_KEY_FILE: keyFile };

  // The library's initial chunk, as dist/bundle/index.js loads it.
  const chunk = join(lib, readdirSync(lib).find((f) => /^initial-[\w-]+\.cjs$/.test(f)) ?? "");
  const library = loadCompiled(chunk, node);
  for (const repo of [loose, packed]) {
    await library.exports.loadConfig({ repo, project: "shop", env: "prod", environment, cwd: work });
    await library.exports.loadConfig({ repo, project: "shop", env: "prod", environment: { PATH: process.env.PATH, HOME: work }, identities: [key.identity], cwd: work });
  }
  save(chunk, library.script);

  // bin/run.js's fast path, as dist/bundle/cached.cjs loads it: decrypt to a file, and textconv
  // (what they print, decrypt's note and textconv's text, is kept out of the build's output).
  const fastFile = join(dist, "bundle/fast/fast.cjs");
  const fast = loadCompiled(fastFile, node);
  const saved = { ...process.env };
  Object.assign(process.env, environment);
  const [out, err] = [process.stdout.write, process.stderr.write];
  process.stdout.write = process.stderr.write = () => true;
  try {
    const p = fast.exports.parseFastDecrypt(["decrypt", sopsFile, "--output", join(work, "out.yaml")], process.env, { stdoutIsTTY: () => false });
    if (!p || (await fast.exports.runFastDecrypt(p)) !== undefined) throw new Error("the fast path's decrypt failed");
    if (!(await fast.exports.gitDriverFastPath(["git", "textconv", sopsFile], root))) throw new Error("the fast path took no textconv");
  } finally {
    [process.stdout.write, process.stderr.write] = [out, err];
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  save(fastFile, fast.script);
} catch (e) {
  console.warn(`boot-meta build: no code cache for the bundle's start-up files (${e instanceof Error ? e.message : e}); they will compile more at start-up`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
