// Start-up is a feature: what a developer's `boot-meta decrypt` and a service's first
// `loadConfig` cost, each a new process, beside a bare `node -e 0` run interleaved with them
// in the same rounds (so machine noise hits all of them alike). Targets (issue 9): CLI
// decrypt ≤ 2.5× node -e 0; import("boot-meta") + first loadConfig ≤ 2× node -e 0.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { serviceRepo } from "../scripts/service-repo.mjs";
import { fmtMs, median, table } from "./harness.mjs";

const root = join(import.meta.dirname, "..");
const bin = join(root, "bin/run.js");
const work = mkdtempSync(join(tmpdir(), "boot-meta-bench-startup-"));
const { generateAgeKey } = await import(join(root, "dist/sops/age.js"));
const { encryptBytes } = await import(join(root, "dist/sops/engine.js"));

const key = await generateAgeKey();
const keyFile = join(work, "key.txt");
writeFileSync(keyFile, `# bench-only key\n${key.identity}\n`, { mode: 0o600 });
const small = join(work, "app.enc.yaml");
writeFileSync(small, await encryptBytes(Buffer.from("db:\n    host: db.internal\n    port: 5432\n    user: app\n    password: hunter2\n"), { format: "yaml", keyGroups: [[key.recipient]] }));

// A meta repo with one project and env, for loadConfig.
const meta = join(work, "meta");
await serviceRepo(join(root, "dist"), meta, key, [["database.url", "postgres://prod-db/shop"], ["log.level", "info"], ["port", 8080n]], "bench <bench@boot-meta.invalid>");
const loadScript = join(work, "load.mjs");
// What `import("boot-meta")` loads: the package's own entry (its exports map), not a file of dist/ picked by hand.
const entry = join(root, JSON.parse(readFileSync(join(root, "package.json"), "utf8")).exports["."].import);
writeFileSync(loadScript, `const { loadConfig } = await import(${JSON.stringify(entry)});\nawait loadConfig({ repo: ${JSON.stringify(meta)}, project: "shop", env: "prod", environment: process.env });\n`);

const env = { PATH: process.env.PATH, HOME: work, SOPS_AGE_KEY_FILE: keyFile, NO_COLOR: "1" };
// decrypt runs without oclif when bin/run.js's fast path understands its arguments (src/cli/fast-path.ts);
// the same command through oclif (BOOT_META_NO_FAST_PATH=1) is measured beside it.
const contenders = {
  "node -e 0 (baseline)": [process.execPath, ["-e", "0"]],
  "boot-meta --version": [process.execPath, [bin, "--version"]],
  "boot-meta decrypt (4 values)": [process.execPath, [bin, "decrypt", small]],
  "  the same through oclif": [process.execPath, [bin, "decrypt", small], { BOOT_META_NO_FAST_PATH: "1" }],
  'import("boot-meta") + loadConfig': [process.execPath, [loadScript]],
};
const run = ([file, args, extra = {}]) => {
  const t0 = performance.now();
  const r = spawnSync(file, args, { env: { ...env, ...extra }, cwd: work, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${file} ${args.join(" ")} failed: ${r.stderr}`);
  return performance.now() - t0;
};
for (const c of Object.values(contenders)) run(c); // warm the page cache
const rounds = Number(process.env.BENCH_ROUNDS ?? 31);
const samples = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
for (let i = 0; i < rounds; i++) for (const [name, c] of Object.entries(contenders)) samples[name].push(run(c));
const med = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
const base = med["node -e 0 (baseline)"];
console.log(`start-up, a new process each, median of ${rounds} interleaved rounds:`);
table([["command", "time", "vs node -e 0", "target"], ...Object.entries(med).map(([k, v]) => [k, fmtMs(v), `${(v / base).toFixed(2)}×`, k.startsWith("boot-meta decrypt") ? "≤ 2.5×" : k.includes("loadConfig") ? "≤ 2×" : ""])]);
rmSync(work, { recursive: true, force: true });
