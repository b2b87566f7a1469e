// Why the fast YAML path exists (src/sops/formats/yaml-fast.ts): parsing what sops writes with
// it against the full parser (the yaml package, resolved the go-yaml way) that it falls back
// to. Both give the same tree (test/sops/yaml-fast.test.ts); this says what that saves.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { encryptBytes } from "../dist/sops/engine.js";
import { parseYaml, parseYamlFull } from "../dist/sops/formats/yaml.js";
import { parseYamlFast } from "../dist/sops/formats/yaml-fast.js";
import { fmtMs, measure, table } from "./harness.mjs";

const KEYS = 500;
const recipient = await identityToRecipient(await generateIdentity());
const lines = [];
for (let i = 0; i < KEYS; i++) lines.push(`key_${String(i).padStart(3, "0")}: value number ${i} with some length to it`);
const big = await encryptBytes(Buffer.from(`${lines.join("\n")}\n`), { format: "yaml", keyGroups: [[recipient]] });

// Every YAML file sops 3.7+ wrote among the upstream vectors, parsed one after the other.
const vectors = join(import.meta.dirname, "../test/fixtures/sops-upstream");
const files = readdirSync(vectors, { recursive: true, encoding: "utf8" })
  .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith("expected") && !f.startsWith("getsops-sops/"))
  .map((f) => Buffer.from(readFileSync(join(vectors, f))));

for (const [name, inputs] of [[`a ${KEYS}-key file sops wrote (${(big.length / 1024).toFixed(0)} KiB)`, [big]], [`the ${files.length} sops 3.7+ YAML vectors`, files]]) {
  // The fast path must take these files, or the figures below compare the full parser with itself.
  for (const b of inputs) if (!parseYamlFast(Buffer.from(b).toString("utf8"))) throw new Error("the fast path gave up on a sops-written file");
  const r = await measure({
    fast: () => inputs.forEach((b) => parseYaml(b)),
    full: () => inputs.forEach((b) => parseYamlFull(Buffer.from(b).toString("utf8"))),
  });
  console.log(`\nparse ${name}, median:`);
  table([
    ["parser", "time", "ratio"],
    ["parseYaml (fast path)", fmtMs(r.fast), "1.00"],
    ["parseYamlFull (yaml package)", fmtMs(r.full), `${(r.full / r.fast).toFixed(2)}× the fast path's time`],
  ]);
}
