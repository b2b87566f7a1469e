#!/usr/bin/env node
// Runs every bench/*.bench.mjs in turn (each against its baseline, side by side, in the same
// process) and prints their figures. Not part of `npm test`.
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const dir = import.meta.dirname;
const only = process.argv.slice(2);
// Benches named for the command they time, beside the *.bench.mjs ones.
const NAMED = ["keys-remove.mjs", "agent.mjs"];
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.mjs") || NAMED.includes(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const r = spawnSync(process.execPath, ["--expose-gc", join(dir, f)], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
