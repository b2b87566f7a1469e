// Writes dist/bundle/lib/initial-*.cjs.v8cache, the code cache the package's entry compiles its
// initial chunk with (scripts/library-entry.mjs says why). Compiles the chunk as the entry does,
// runs what a service's start runs — loadConfig from a clone with loose objects and from one
// whose objects are packed, with the key named by SOPS_AGE_KEY_FILE and given as an option — and
// then asks V8 for the bytecode of every function compiled so far. The repositories and the key
// are made here, in a temp folder, and removed. Run by `npm run build`, after scripts/bundle.mjs.
// Without git (or anything else this needs) the build goes on without a cache: the entry works
// the same, it only compiles more at start-up.
import { isAscii } from "node:buffer";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import vm from "node:vm";
import { CACHE_SUFFIX, cacheFile, compileChunk } from "./library-entry.mjs";

// git's location variables (a build run from a git hook has GIT_DIR set) would send the warm-up's
// repositories into the caller's.
for (const k of Object.keys(process.env)) if (k.startsWith("GIT_")) delete process.env[k];

const dist = join(import.meta.dirname, "..", "dist");
const lib = join(dist, "bundle", "lib");
const chunk = join(lib, readdirSync(lib).find((f) => /^initial-[\w-]+\.cjs$/.test(f)) ?? "");
const work = mkdtempSync(join(tmpdir(), "boot-meta-code-cache-"));
try {
  const { generateAgeKey } = await import(join(dist, "sops/age.js"));
  const { identitySetFrom } = await import(join(dist, "sops/identities.js"));
  const { initRepo, addKey, createProject, createEnv } = await import(join(dist, "meta/repo.js"));
  const { setConfigValue } = await import(join(dist, "config/edit.js"));

  // A key made for this warm-up only, and a meta repo with one project and env, as in bench/startup.bench.mjs.
  const key = await generateAgeKey();
  const keyFile = join(work, "key.txt");
  writeFileSync(keyFile, `# made by scripts/code-cache.mjs for one warm-up load, then removed\n${key.identity}\n`, { mode: 0o600 });
  const loose = join(work, "loose");
  const o = { author: "boot-meta build <build@boot-meta.invalid>" };
  const ids = await identitySetFrom([key.identity]);
  await initRepo(loose, o);
  await addKey(loose, "svc", [key.recipient], { ...o, group: "admins", identities: ids });
  await createProject(loose, "shop", o);
  await createEnv(loose, "shop", "prod", o);
  for (const [k, v] of [["database.url", "postgres://db/shop"], ["log.level", "info"], ["port", 8080n], ["debug", false]]) {
    await setConfigValue(loose, { project: "shop", env: "prod" }, k, v, { ...o, identities: ids });
  }
  const packed = join(work, "packed");
  execFileSync("git", ["clone", "-q", loose, packed], { stdio: "ignore" });
  execFileSync("git", ["-C", packed, "gc", "-q", "--aggressive"], { stdio: "ignore" });

  const source = readFileSync(chunk);
  const script = compileChunk(vm, source.toString(isAscii(source) ? "latin1" : "utf8"), chunk);
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(chunk), module, chunk, dirname(chunk));
  const { loadConfig } = module.exports;
  const environment = { PATH: process.env.PATH, HOME: work, SOPS_AGE_KEY_FILE: keyFile };
  for (const repo of [loose, packed]) {
    await loadConfig({ repo, project: "shop", env: "prod", environment, cwd: work });
    await loadConfig({ repo, project: "shop", env: "prod", environment: { PATH: process.env.PATH, HOME: work }, identities: [key.identity], cwd: work });
  }
  // Whole or not at all: written beside it, then renamed over any older one.
  writeFileSync(`${chunk}${CACHE_SUFFIX}.tmp`, cacheFile(createHash, source, script.createCachedData()));
  renameSync(`${chunk}${CACHE_SUFFIX}.tmp`, chunk + CACHE_SUFFIX);
} catch (e) {
  console.warn(`boot-meta build: no code cache for the library's entry (${e instanceof Error ? e.message : e}); it will compile more at start-up`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
