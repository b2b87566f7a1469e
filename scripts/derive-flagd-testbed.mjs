#!/usr/bin/env node
// Derives test/fixtures/flagd-testbed/ from a checkout of open-feature/flagd-testbed (its
// evaluator testkit): the flag definitions, copied byte for byte, and each gherkin scenario
// as data (flag, type, fallback, context, expected value/reason/error code) — so the tests
// read plain JSON and no gherkin runner is needed. Usage:
//   node scripts/derive-flagd-testbed.mjs DIR_OF_FLAGD_TESTBED COMMIT
import { readdirSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from "node:fs";
import { join } from "node:path";

const [src, commit] = process.argv.slice(2);
if (!src || !commit) throw new Error("usage: derive-flagd-testbed.mjs DIR COMMIT");
const out = join(import.meta.dirname, "../test/fixtures/flagd-testbed");
mkdirSync(out, { recursive: true });
copyFileSync(join(src, "evaluator/flags/testkit-flags.json"), join(out, "testkit-flags.json"));

const typed = (type, v) => {
  switch (type) {
    case "Boolean":
      return v === "true";
    case "Integer":
      return Number.parseInt(v, 10);
    case "Float":
      return Number.parseFloat(v);
    case "Object":
      return JSON.parse(v.replaceAll('\\"', '"'));
    default:
      return v;
  }
};

const scenarios = [];
for (const file of readdirSync(join(src, "evaluator/gherkin")).filter((f) => f.endsWith(".feature")).sort()) {
  const lines = readFileSync(join(src, "evaluator/gherkin", file), "utf8").split("\n");
  let current;
  const flush = () => {
    if (!current) return;
    const rows = current.examples.length ? current.examples : [{}];
    for (const row of rows) {
      const sub = (s) => s.replace(/<([^>]+)>/g, (_, k) => row[k] ?? `<${k}>`);
      const s = { feature: file, scenario: sub(current.name), tags: [...featureTags, ...current.tags, ...(row.__tags ?? [])], context: {} };
      for (const step of current.steps.map(sub)) {
        let m;
        if ((m = /a (\w+)-flag with key "([^"]*)" and a fallback value "((?:[^"\\]|\\.)*)"/.exec(step))) Object.assign(s, { type: m[1], flag: m[2], fallback: typed(m[1], m[3]) });
        else if ((m = /a context containing a key "([^"]*)", with type "(\w+)" and with value "([^"]*)"/.exec(step))) s.context[m[1]] = typed(m[2], m[3]);
        else if ((m = /a context containing a targeting key with value "([^"]*)"/.exec(step))) s.context.targetingKey = m[1];
        else if ((m = /a context containing a nested property with outer key "([^"]*)" and inner key "([^"]*)", with value "([^"]*)"/.exec(step))) s.context[m[1]] = { ...(s.context[m[1]] ?? {}), [m[2]]: m[3] };
        else if ((m = /the resolved details value should be "((?:[^"\\]|\\.)*)"/.exec(step))) s.value = typed(s.type, m[1]);
        else if ((m = /the reason should be "([^"]*)"/.exec(step))) s.reason = m[1];
        else if ((m = /the error-code should be "([^"]*)"/.exec(step))) s.errorCode = m[1];
      }
      scenarios.push(s);
    }
    current = undefined;
  };
  let table;
  // Tags (@fractional-v1, …) belong to the next Feature, Scenario or Examples block.
  let tags = [];
  let featureTags = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line.startsWith("@")) {
      tags.push(...line.split(/\s+/).filter((t) => t.startsWith("@")));
      continue;
    }
    if (/^Feature:/.test(line)) {
      featureTags = tags;
      tags = [];
    } else if (/^Scenario( Outline)?:/.test(line)) {
      flush();
      current = { name: line.replace(/^Scenario( Outline)?:\s*/, ""), tags, steps: [], examples: [] };
      tags = [];
      table = undefined;
    } else if (!current) continue;
    else if (/^(Given|And|When|Then|But) /.test(line)) current.steps.push(line);
    else if (/^Examples:/.test(line)) {
      table = { header: undefined, tags };
      tags = [];
    }
    else if (line.startsWith("|") && table) {
      const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
      if (!table.header) table.header = cells;
      else current.examples.push({ ...Object.fromEntries(table.header.map((h, i) => [h, cells[i]])), __tags: table.tags });
    }
  }
  flush();
}
writeFileSync(join(out, "scenarios.json"), `${JSON.stringify(scenarios, null, 1)}\n`);
writeFileSync(
  join(out, "provenance.json"),
  `${JSON.stringify({ source: "https://github.com/open-feature/flagd-testbed", commit, license: "the repository states none at this commit (no LICENSE file); the OpenFeature project's repositories are Apache-2.0", files: { "testkit-flags.json": "evaluator/flags/testkit-flags.json (copied byte for byte)", "scenarios.json": "derived from evaluator/gherkin/*.feature by scripts/derive-flagd-testbed.mjs: one entry per scenario and example row" } }, null, 2)}\n`,
);
console.log(`${scenarios.length} scenarios`);
