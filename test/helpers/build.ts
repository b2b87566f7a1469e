import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "../..");
// Written last by `npm run build`: its date is the build's.
const MANIFEST = join(ROOT, "oclif.manifest.json");
const LOCK = join(ROOT, ".build-lock");
/** What the build reads: a change to any of them makes dist/ stale. */
const INPUTS = ["src", "proto", "package.json", "tsconfig.json", "tsconfig.build.json", "scripts/bundle.mjs", "scripts/library-entry.mjs", "scripts/code-cache.mjs", "scripts/service-repo.mjs", "scripts/dashboard-assets.mjs", "scripts/manifest.mjs"];
// The environment as the test process began, before a command run in-process replaced it.
const env = { ...process.env };
let built = false;

function newest(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let t = s.mtimeMs;
  for (const f of readdirSync(path, { recursive: true, encoding: "utf8" })) t = Math.max(t, statSync(join(path, f)).mtimeMs);
  return t;
}

/**
 * Builds dist/ (`npm run build`) when a file it is built from is newer than the last build, once
 * per test process; a lock directory keeps two test processes from building at once. For
 * tests that run the built code in processes of their own (bin/run.js, fixtures/writer.mjs):
 * they must never run a dist/ older than src/.
 */
export function ensureBuilt(): void {
  if (built) return;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // A build takes seconds; a lock much older than that was left by a killed run.
      if (Date.now() - statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs! > 300_000) rmSync(LOCK, { recursive: true, force: true });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    const stale = !existsSync(MANIFEST) || Math.max(...INPUTS.map((i) => newest(join(ROOT, i)))) > statSync(MANIFEST).mtimeMs;
    if (stale) execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, env, stdio: ["ignore", "ignore", "inherit"] });
    built = true;
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
