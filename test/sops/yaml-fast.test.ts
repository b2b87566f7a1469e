import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { parseYaml, parseYamlFull, yamlStore } from "../../src/sops/formats/yaml.js";
import { parseYamlFast } from "../../src/sops/formats/yaml-fast.js";
import { Branch, Comment, type Tree, type Value } from "../../src/sops/tree.js";
import { VECTORS } from "../helpers/vectors.js";

const runs = process.env.SLOW ? 500 : 60;

function view(v: Value): unknown {
  if (v instanceof Branch) return v.items.map((i) => ("key" in i ? [i.key, view(i.value)] : ["#", i.comment.text, i.comment.inline]));
  if (Array.isArray(v)) return v.map(view);
  if (v instanceof Comment) return ["#", v.text, v.inline];
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : `f${v}`;
  return v;
}
const treeView = (t: Tree) => t.map(view);

function outcome(f: () => Tree): unknown {
  try {
    return treeView(f());
  } catch (e) {
    return { error: (e as { code?: string }).code };
  }
}

const yamlFiles = readdirSync(VECTORS, { recursive: true, encoding: "utf8" }).filter((f) => /\.ya?ml$/.test(f) && !f.startsWith("expected"));

describe("the fast YAML parser agrees with the full one", () => {
  it.each(yamlFiles)("on %s", (file) => {
    const text = readFileSync(join(VECTORS, file), "utf8");
    expect(outcome(() => parseYaml(Buffer.from(text)))).toEqual(outcome(() => parseYamlFull(text)));
  });

  it("handles every sops 3.7+ file (go-yaml v3 layout) itself", () => {
    const v3 = yamlFiles.filter((f) => !f.startsWith("getsops-sops/"));
    for (const f of v3) expect(parseYamlFast(readFileSync(join(VECTORS, f), "utf8")), f).toBeDefined();
  });

  // Every one of these, every run (a sample of them could miss the one that breaks).
  const tricky = [
    "a: 1\n",
    "a:\n- x\n- y\n",
    "a: |\n  keep\n\n  blank\n",
    "a: |+\n  x\n\n\nb: 1\n",
    "a: |-\n  x\n",
    "a: 'it''s'\n",
    'a: "\\u00e9\\n\\t"\n',
    "a: x # c\n# d\nb:\n  - 1 # e\n",
    "a: {x: 1}\n",
    "a: &x 1\nb: *x\n",
    "a: >\n  folded\n",
    "a: multi\n  line\n",
    "- top\n",
    "a: 1\na: 2\n",
    "1: x\n",
    "a:\n    b:\n        c: [ ]\n",
    "key with spaces: v\n",
    '"quoted key": v\n',
    "a: b: c\n",
    "a:\n  - b: 1\n    c:\n      - d\n  - e\n",
    "---\na: 1\n",
    "",
    "# only a comment\n",
    "a: -1\nb: -x\nc: - x\n",
  ];

  it.each(tricky)("on the hand-picked input %j", (text) => {
    expect(outcome(() => parseYaml(Buffer.from(text)))).toEqual(outcome(() => parseYamlFull(text)));
  });

  const key = fc.string({ minLength: 1, maxLength: 8 });
  const scalar = fc.oneof(fc.string({ maxLength: 20 }), fc.bigInt({ min: -1000n, max: 1000n }), fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d) && Number.isFinite(d)), fc.boolean(), fc.constant(null), fc.constantFrom("a\nb\n", "x\n\n", "tail", "# not a comment", "- dash", "k: v"));
  const { value } = fc.letrec<{ value: Value }>((tie) => ({
    value: fc.oneof({ depthSize: "small" }, scalar, fc.array(tie("value"), { maxLength: 3 }), fc.uniqueArray(fc.tuple(key, tie("value")), { selector: ([k]) => k, maxLength: 4 }).map((es) => new Branch(es.map(([k, v]) => ({ key: k, value: v }))))),
  }));
  const doc = fc.uniqueArray(fc.tuple(key, value, fc.option(fc.string({ maxLength: 10 }).filter((s) => !s.includes("\n")))), { selector: ([k]) => k, minLength: 1, maxLength: 5 }).map(
    (es) => new Branch(es.flatMap(([k, v, c]) => [...(c === null ? [] : [{ comment: new Comment(c) }]), { key: k, value: v }])),
  );

  test.prop([doc], { numRuns: runs })("on what our emitter writes", (b) => {
    const text = Buffer.from(yamlStore.emitPlain([b])).toString("utf8");
    expect(outcome(() => parseYaml(Buffer.from(text)))).toEqual(outcome(() => parseYamlFull(text)));
  });
});
