import { fc, test } from "@fast-check/vitest";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { beforeAll, describe, expect } from "vitest";
import { BootMetaError } from "../../src/errors.js";
import { encryptBytes, openBytes } from "../../src/sops/engine.js";
import { identitySetFrom, type IdentitySet } from "../../src/sops/identities.js";
import { type Format, storeFor } from "../../src/sops/formats/index.js";
import { Branch, type Tree, type Value } from "../../src/sops/tree.js";

const runs = process.env.SLOW ? 300 : 25;
let recipient = "";
let ids: IdentitySet;

beforeAll(async () => {
  const identity = await generateIdentity();
  recipient = await identityToRecipient(identity);
  ids = await identitySetFrom([identity]);
});

/** A structural view for equality: keeps the types that decide the ENC type tag. */
function view(v: Value): unknown {
  if (v instanceof Branch) return v.items.map((i) => ("key" in i ? [i.key, view(i.value)] : ["#", i.comment.text]));
  if (Array.isArray(v)) return v.map(view);
  if (typeof v === "bigint") return { int: v.toString() };
  if (typeof v === "number") return { float: Object.is(v, -0) ? "-0" : String(v) };
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString("hex") };
  return v;
}
const treeView = (t: Tree) => t.map(view);

const key = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => k !== "sops" && !k.endsWith("_unencrypted"));
const scalar = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 10 }),
  fc.constantFrom("true", "null", "0755", "1_000", "2024-01-01T00:00:00Z", "~", "", "- x", "a: b", "#c", "ENC[not really]", "multi\nline\n"),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
  fc.boolean(),
  fc.constant(null),
);
function mapOf(arb: fc.Arbitrary<Value>): fc.Arbitrary<Branch> {
  return fc.uniqueArray(fc.tuple(key, arb), { selector: ([k]) => k, maxLength: 6 }).map((es) => new Branch(es.map(([k, value]) => ({ key: k, value }))));
}
const { value: nested } = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalar, fc.array(tie("value"), { maxLength: 4 }), mapOf(tie("value"))),
}));
const yamlTree = fc.array(mapOf(nested), { minLength: 1, maxLength: 2 });
const jsonTree = mapOf(nested).map((b) => [b]);
const envKey = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,15}$/).filter((k) => !k.startsWith("sops_"));
const dotenvTree = fc
  .uniqueArray(fc.tuple(envKey, fc.string({ maxLength: 30 }).filter((s) => !s.includes("\\"))), { selector: ([k]) => k, minLength: 1, maxLength: 8 })
  .map((es) => [new Branch(es.map(([k, value]) => ({ key: k, value })))]);
const iniWord = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ._:/@-]{0,20}[A-Za-z0-9]$/);
const iniTree = fc
  .uniqueArray(fc.tuple(iniWord.filter((s) => s !== "sops" && s !== "DEFAULT"), fc.uniqueArray(fc.tuple(iniWord, iniWord), { selector: ([k]) => k, minLength: 1, maxLength: 5 })), { selector: ([k]) => k, minLength: 1, maxLength: 4 })
  .map((secs) => [new Branch(secs.map(([name, kv]) => ({ key: name, value: new Branch(kv.map(([k, v]) => ({ key: k, value: v }))) })))]);
const binaryTree = fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => [new Branch([{ key: "data", value: b }])]);

const cases: [Format, fc.Arbitrary<Tree>][] = [
  ["yaml", yamlTree],
  ["json", jsonTree],
  ["dotenv", dotenvTree],
  ["ini", iniTree],
  ["binary", binaryTree],
];

describe("encrypt then decrypt is the identity", () => {
  for (const [format, arb] of cases) {
    test.prop([arb], { numRuns: runs })(`for arbitrary ${format} trees`, async (tree) => {
      const store = storeFor(format);
      const plain = store.emitPlain(tree);
      const expected = store.loadPlain(plain);
      const enc = await encryptBytes(plain, { format, keyGroups: [[recipient]] });
      const f = await openBytes(enc, { format, identities: ids, pgp: false });
      expect(treeView(f.tree)).toEqual(treeView(expected));
      // and the emitted plaintext is what went in
      expect(Buffer.from(store.emitPlain(f.tree)).toString("hex")).toBe(Buffer.from(plain).toString("hex"));
    });
  }
});

/** Regions of an encrypted file whose every character is protected: ENC[…] values, mac, lastmodified. */
function protectedSpans(text: string): [number, number][] {
  const spans: [number, number][] = [];
  for (const m of text.matchAll(/ENC\[AES256_GCM,data:[^\]]*\]/g)) spans.push([m.index, m.index + m[0].length]);
  for (const m of text.matchAll(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/g)) spans.push([m.index, m.index + m[0].length]);
  return spans;
}

describe("any single-character change to a protected field is refused", () => {
  const sample: Record<string, string> = {
    yaml: "db:\n    user: admin\n    password: hunter2\nports:\n    - 8080\n    - 8443\nratio: 0.25\nenabled: true\n",
    json: '{"db":{"user":"admin","password":"hunter2"},"ports":[8080,8443],"ratio":0.25,"enabled":true}\n',
    dotenv: "USER=admin\nPASSWORD=hunter2\n",
  };
  for (const format of ["yaml", "json", "dotenv"] as const) {
    test.prop([fc.nat(), fc.nat(), fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=:,[]TZ-")], { numRuns: runs * 4 })(
      `in a ${format} file`,
      async (which, offset, ch) => {
        const enc = Buffer.from(await encryptBytes(Buffer.from(sample[format] as string), { format, keyGroups: [[recipient]] })).toString("utf8");
        const spans = protectedSpans(enc);
        const [start, end] = spans[which % spans.length] as [number, number];
        const at = start + (offset % (end - start));
        fc.pre(enc[at] !== ch);
        const tampered = enc.slice(0, at) + ch + enc.slice(at + 1);
        const err = await openBytes(Buffer.from(tampered), { format, identities: ids, pgp: false }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `changing offset ${at} (${JSON.stringify(enc[at])} → ${JSON.stringify(ch)}) was accepted`).toBeInstanceOf(BootMetaError);
      },
    );
  }
});
