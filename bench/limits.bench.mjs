// Hostile input is refused in bounded work (src/limits.ts): each refusal is timed beside parsing
// a normal config file of the same size (one `key: value` per line), in the same process, interleaved. A refusal that costs about
// what a normal file of its size does (or less) means a writer cannot make readers pay more
// than the bytes they pushed. The yaml package on its own is shown for reference.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { Git } from "../dist/meta/git.js";
import { jsonStore } from "../dist/sops/formats/json.js";
import { yamlStore } from "../dist/sops/formats/yaml.js";
import { fmtMs, measure, table } from "./harness.mjs";

/** Runs fn and checks it throws the expected BootMetaError code (so we time a refusal, not a success). */
const refusing = (code, fn) => async () => {
  try {
    await fn();
  } catch (e) {
    if (e.code === code) return;
    throw e;
  }
  throw new Error(`expected ${code}`);
};
const quietly = (fn) => () => {
  try {
    fn();
  } catch {
    /* the yaml package's own refusal, or its error after parsing everything */
  }
};

/** A normal config file of `size` bytes: one `key: value` line per setting, a comment to fill up. */
const normalYaml = (size) => {
  const lines = [];
  let len = 0;
  for (let i = 0; len + 40 < size; i++) {
    const l = `key_${String(i).padStart(7, "0")}: value ${i}`;
    lines.push(l);
    len += l.length + 1;
  }
  const text = `${lines.join("\n")}\n`;
  return Buffer.from(`${text}${"#".padEnd(size - text.length - 1, "-")}\n`);
};
const normalJson = (size) => {
  const parts = [];
  let len = 2;
  for (let i = 0; len + 24 <= size; i++) {
    const p = `"key_${String(i).padStart(7, "0")}": ${i % 1000}`;
    parts.push(p);
    len += p.length + 2;
  }
  return Buffer.from(`{${parts.join(",\n")}}`.padEnd(size, " "));
};

// A "billion laughs": ten levels of ten aliases each, 10^10 values once expanded.
const bombLines = [`a0: &a0 [${Array(10).fill("lol").join(", ")}]`];
for (let i = 1; i <= 9; i++) bombLines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
const bomb = Buffer.from(`${bombLines.join("\n")}\n`);

// 100,000 levels of nesting, in flow YAML, block YAML ("- - - …") and JSON.
const N = 100_000;
const deepFlow = Buffer.from(`a: ${"[".repeat(N)}${"]".repeat(N)}\n`);
const deepBlock = Buffer.from(`a:\n${"- ".repeat(N)}x\n`);
const deepJson = Buffer.from(`{"a": ${"[".repeat(N)}${"]".repeat(N)}}\n`);

const cases = [
  { name: "YAML alias bomb (10^10 values expanded)", bytes: bomb, normal: normalYaml(bomb.length), code: "INPUT_TOO_MANY_NODES", store: yamlStore, ref: () => parse(bomb.toString()) },
  { name: "YAML 100,000 levels, flow", bytes: deepFlow, normal: normalYaml(deepFlow.length), code: "INPUT_TOO_DEEP", store: yamlStore, ref: () => parseAllDocuments(deepFlow.toString()) },
  { name: "YAML 100,000 levels, block", bytes: deepBlock, normal: normalYaml(deepBlock.length), code: "INPUT_TOO_DEEP", store: yamlStore },
  { name: "JSON 100,000 levels", bytes: deepJson, normal: normalJson(deepJson.length), code: "INPUT_TOO_DEEP", store: jsonStore },
];

const rows = [["input", "size", "refused in", "normal file, same size", "ratio", "yaml package alone"]];
for (const c of cases) {
  const contenders = {
    refuse: refusing(c.code, () => c.store.loadPlain(c.bytes, { file: "bench" })),
    normal: () => c.store.loadPlain(c.normal, { file: "bench" }),
  };
  if (c.ref) contenders.ref = quietly(c.ref);
  for (const [k, fn] of Object.entries(contenders)) if (k !== "ref") await fn(); // each does what it should before timing
  const r = await measure(contenders, c.bytes.length < 4096 ? { rounds: 15, minMs: 600 } : { rounds: 5, minMs: 100 });
  rows.push([c.name, `${(c.bytes.length / 1024).toFixed(1)} KiB`, fmtMs(r.refuse), fmtMs(r.normal), `${(r.refuse / r.normal).toFixed(2)}×`, c.ref ? fmtMs(r.ref) : "-"]);
}
// The bomb goes through the full parser (it has anchors); the same text with every alias
// replaced by a plain value is what parsing text of that shape costs there.
const sameShape = Buffer.from(bomb.toString().replace(/\*a\d/g, "lol"));
const s = await measure({ refuse: refusing("INPUT_TOO_MANY_NODES", () => yamlStore.loadPlain(bomb)), shape: () => yamlStore.loadPlain(sameShape) }, { rounds: 15, minMs: 600 });
rows.push(["  beside: the bomb's text, aliases replaced by values", `${(sameShape.length / 1024).toFixed(1)} KiB`, fmtMs(s.refuse), fmtMs(s.shape), `${(s.refuse / s.shape).toFixed(2)}×`, "-"]);
console.log("hostile input refused by the stores (loadPlain), median per file:");
table(rows);

// A 200 MiB blob committed by a hostile writer: refused from git's header of the object,
// its body skipped as it streams past, never held in memory.
const dir = mkdtempSync(join(tmpdir(), "boot-meta-bench-limits-"));
try {
  const git = (...args) => execFileSync("git", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  git("init", "-q", "-b", "main");
  const big = join(dir, "big.sops.yaml");
  writeFileSync(big, Buffer.alloc(200 * 1024 * 1024, 0x61));
  const small = normalYaml(bomb.length);
  writeFileSync(join(dir, "small.yaml"), small);
  git("add", "big.sops.yaml", "small.yaml");
  git("-c", "user.name=bench", "-c", "user.email=bench@invalid", "commit", "-q", "-m", "big");
  rmSync(big);
  const repo = await Git.open(dir);
  const head = await repo.resolve("HEAD");
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const r = await measure(
    {
      refuse: refusing("INPUT_TOO_LARGE", () => repo.readFiles(["big.sops.yaml"], head)),
      normal: () => repo.readFiles(["small.yaml"], head),
    },
    { rounds: 5, minMs: 100 },
  );
  clearInterval(timer);
  console.log("\na 200 MiB blob in the meta repo, read through git cat-file (median per read):");
  table([
    ["read", "time"],
    ["200 MiB blob: refused from its header", fmtMs(r.refuse)],
    [`${small.length}-byte blob: read`, fmtMs(r.normal)],
  ]);
  console.log(`peak rss grew by ${((peak - before) / 2 ** 20).toFixed(0)} MiB while refusing it (the blob is 200 MiB; git still streams it through the pipe, which is the time above)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
