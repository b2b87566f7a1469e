import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { binaryStore } from "../../src/sops/formats/binary.js";
import { dotenvStore } from "../../src/sops/formats/dotenv.js";
import { flatten, unflatten } from "../../src/sops/formats/flatten.js";
import { iniStore } from "../../src/sops/formats/ini.js";
import { jsonStore } from "../../src/sops/formats/json.js";
import { yamlStore } from "../../src/sops/formats/yaml.js";
import { Branch, Comment, type Value } from "../../src/sops/tree.js";
import { VECTORS } from "../helpers/vectors.js";

const y = (s: string) => yamlStore.loadPlain(Buffer.from(s));
const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

describe("YAML store: scalars resolve as go-yaml v3 does", () => {
  it.each<[string, Value]>([
    ["0755", 493n],
    ["0x1F", 31n],
    ["0o17", 15n],
    ["0b101", 5n],
    ["1_000", 1000n],
    ["-12", -12n],
    ["08", 8],
    ["3.14", 3.14],
    [".5", 0.5],
    ["1e3", 1000],
    ["99999999999999999999", 1e20],
    [".inf", Infinity],
    ["-.Inf", -Infinity],
    ["true", true],
    ["FALSE", false],
    ["yes", "yes"],
    ["on", "on"],
    ["~", null],
    ["Null", null],
    ["2024-01-02", "2024-01-02"],
    ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"],
    ['"0755"', "0755"],
    ["'true'", "true"],
    ["!!str 12", "12"],
    ["!!float 5", 5],
    ["!!int \"7\"", 7n],
  ])("%s", (src, want) => {
    expect(y(`v: ${src}\n`)[0]?.get("v")).toEqual(want);
  });

  it("keeps NaN", () => {
    expect(Number.isNaN(y("v: .nan\n")[0]?.get("v") as number)).toBe(true);
  });

  it("does not merge << keys and expands aliases into copies", () => {
    const t = y("base: &b {x: 1}\nother:\n    <<: *b\n    y: 2\n")[0] as Branch;
    const other = t.get("other") as Branch;
    expect(other.keys()).toEqual(["<<", "y"]);
    expect((other.get("<<") as Branch).get("x")).toBe(1n);
  });
});

describe("YAML store: comments", () => {
  it("places each comment in the map or list at its indentation, inline ones before their item", () => {
    const t = y("# top\na: 1 # about a\nb:\n    # inside b\n    c: x\n    # foot of b\n# before l\nl:\n    # first\n    - one\n    # end\n")[0] as Branch;
    expect(t.items[0]).toEqual({ comment: new Comment(" top") });
    expect(t.items[1]).toEqual({ comment: new Comment(" about a", true) });
    const b = t.get("b") as Branch;
    expect(b.items).toEqual([{ comment: new Comment(" inside b") }, { key: "c", value: "x" }, { comment: new Comment(" foot of b") }]);
    expect(t.items[4]).toEqual({ comment: new Comment(" before l") });
    expect(t.get("l")).toEqual([new Comment(" first"), "one", new Comment(" end")]);
  });

  it("re-emits files written by sops 3.10+ byte for byte", () => {
    for (const [file, indent] of [
      ["isindir-sops-secrets-operator/04-test-secrets-mac-only.yaml", 4],
      ["fluxcd-kustomize-controller/global-secret.yaml", 2],
      ["fluxcd-kustomize-controller/age-pq.yaml", 2],
      ["getsops-sops-pr1031/example.yaml", 4],
      ["isindir-sops-secrets-operator/00-test-secrets.yaml", 4],
    ] as const) {
      const data = readFileSync(join(VECTORS, file));
      const { tree, metadata } = yamlStore.loadEncrypted(data);
      expect(text(yamlStore.emitEncrypted(tree, metadata, { indent })), file).toBe(data.toString("utf8"));
    }
  });

  it("keeps a comment round trip stable", () => {
    const src = "# top\na: 1 # about a\nb:\n    # inside b\n    c: x\nl:\n    # first\n    - one\n";
    expect(text(yamlStore.emitPlain(y(src)))).toBe(src);
  });
});

describe("YAML store: emitting", () => {
  it("quotes strings that would read back as something else, and keeps floats floats", () => {
    const b = new Branch([
      { key: "a", value: "0755" },
      { key: "b", value: "true" },
      { key: "c", value: "" },
      { key: "d", value: "2024-01-02T03:04:05Z" },
      { key: "e", value: 7 },
      { key: "f", value: 1234568000 },
      { key: "g", value: "multi\nline\n" },
      { key: "h", value: null },
      { key: "i", value: [] },
      { key: "j", value: new Branch() },
    ]);
    expect(text(yamlStore.emitPlain([b]))).toBe('a: "0755"\nb: "true"\nc: ""\nd: "2024-01-02T03:04:05Z"\ne: 7.0\nf: 1.234568e+09\ng: |\n    multi\n    line\nh: null\ni: []\nj: {}\n');
  });

  it("writes several documents separated by ---, with the metadata in each", () => {
    const out = text(yamlStore.emitEncrypted([new Branch([{ key: "a", value: "1" }]), new Branch([{ key: "b", value: "2" }])], new Branch([{ key: "version", value: "3.13.1" }])));
    expect(out).toBe('a: "1"\nsops:\n    version: 3.13.1\n---\nb: "2"\nsops:\n    version: 3.13.1\n');
    const { tree, metadata } = yamlStore.loadEncrypted(Buffer.from(out));
    expect(tree.map((t) => t.keys())).toEqual([["a"], ["b"]]);
    expect(metadata.get("version")).toBe("3.13.1");
  });
});

describe("YAML store: bad input", () => {
  it.each([
    ["a: 1\na: 2\n", /duplicate/i],
    ["1: x\n", /not a string/],
    ["- a\n- b\n", /list at the top level/],
    ["a: [unclosed\n", /./],
    ["big: 18446744073709551615\n", /64 signed bits/],
  ])("refuses %j", (src, msg) => {
    expect(() => y(src)).toThrowError(expect.objectContaining({ code: "SOPS_MALFORMED_FILE", message: expect.stringMatching(msg) }));
  });

  it("refuses an alias bomb quickly instead of expanding it", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 10; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`);
    // More cases (depth, aliases, UTF-8, through the CLI and a meta repo) in test/security/limits.test.ts.
    expect(() => y(`${lines.join("\n")}\n`)).toThrowError(expect.objectContaining({ code: "INPUT_TOO_MANY_NODES", message: expect.stringContaining("aliases are expanded") }));
  });

  it("says a plaintext file is not encrypted", () => {
    expect(() => yamlStore.loadEncrypted(Buffer.from("a: 1\n"))).toThrowError(expect.objectContaining({ code: "SOPS_NOT_ENCRYPTED" }));
  });
});

describe("JSON store", () => {
  it("keeps key order, integer-like keys and duplicates; ints and floats apart", () => {
    const [t] = jsonStore.loadPlain(Buffer.from('{"b": 1, "2": 2.5, "a": [true, null], "b": "dup"}'));
    expect(t?.items.map((i) => ("key" in i ? i.key : "#"))).toEqual(["b", "2", "a", "b"]);
    expect(t?.items.map((i) => ("key" in i ? i.value : null))).toEqual([1n, 2.5, [true, null], "dup"]);
  });

  it("emits as Go does: tab indent, HTML-safe escapes, exponent floats", () => {
    const b = new Branch([
      { key: "s", value: "<a>&\u2028\u0001" },
      { key: "f", value: 1e-7 },
      { key: "g", value: 1e21 },
      { key: "e", value: [] },
    ]);
    expect(text(jsonStore.emitPlain([b]))).toBe('{\n\t"s": "\\u003ca\\u003e\\u0026\\u2028\\u0001",\n\t"f": 1e-7,\n\t"g": 1e+21,\n\t"e": []\n}\n');
  });

  it("re-emits a file written by sops 3.9 byte for byte", () => {
    const data = readFileSync(join(VECTORS, "humphd-sops-age/secret.enc.json"));
    const { tree, metadata } = jsonStore.loadEncrypted(data);
    expect(text(jsonStore.emitEncrypted(tree, metadata, { indent: 2 }))).toBe(data.toString("utf8"));
  });

  it.each([
    ['{"a": }', /line 1, column 7/],
    ["[1, 2]", /top level must be an object/],
    ['{"a": 1} x', /after the document/],
    ['{"a": "\\x"}', /bad escape/],
  ])("refuses %j with its position", (src, msg) => {
    expect(() => jsonStore.loadPlain(Buffer.from(src))).toThrowError(expect.objectContaining({ code: "SOPS_MALFORMED_FILE", message: expect.stringMatching(msg) }));
  });
});

describe("dotenv store", () => {
  it("splits at the first =, keeps keys untrimmed, decodes \\n, keeps comments", () => {
    const [t] = dotenvStore.loadPlain(Buffer.from("# c\nfoo = bar=baz\nML=a\\nb\n\n"));
    expect(t?.items).toEqual([{ comment: new Comment(" c") }, { key: "foo ", value: " bar=baz" }, { key: "ML", value: "a\nb" }]);
    expect(text(dotenvStore.emitPlain([t as Branch]))).toBe("# c\nfoo = bar=baz\nML=a\\nb\n");
  });

  it("re-emits a file written by sops 3.9 byte for byte, and reads random-order metadata", () => {
    const data = readFileSync(join(VECTORS, "fluxcd-kustomize-controller/env.env"));
    const { tree, metadata } = dotenvStore.loadEncrypted(data);
    expect(text(dotenvStore.emitEncrypted(tree, metadata))).toBe(data.toString("utf8"));
    const year1 = dotenvStore.loadEncrypted(readFileSync(join(VECTORS, "fluxcd-kustomize-controller/year1.env")));
    expect((year1.metadata.get("age") as Branch[])[0]?.keys().sort()).toEqual(["enc", "recipient"]);
  });

  it("refuses a line without =, and nested values", () => {
    expect(() => dotenvStore.loadPlain(Buffer.from("A=1\nnope\n"))).toThrowError(expect.objectContaining({ code: "SOPS_MALFORMED_FILE", message: expect.stringContaining("line 2") }));
    expect(() => dotenvStore.emitPlain([new Branch([{ key: "a", value: new Branch() }])])).toThrowError(expect.objectContaining({ code: "SOPS_NOT_FLAT" }));
  });
});

describe("INI store", () => {
  it("reads sections, quoting and inline comments as ini.v1 does", () => {
    const [t] = iniStore.loadPlain(Buffer.from('; about s\n[s]\na = 1 ; note\nb = "  padded  "\nc = `x;y`\n; about d\nd = """multi\nline"""\n'));
    const s = t?.get("s") as Branch;
    expect(s.items).toEqual([{ comment: new Comment("about s") }, { key: "a", value: "1" }, { key: "b", value: "  padded  " }, { key: "c", value: "x;y" }, { key: "d", value: "multi\nline" }, { comment: new Comment("about d") }]);
  });

  it("reads both sops metadata styles and random key order", () => {
    for (const f of ["getsops-sops/format.enc.ini", "getsops-sops/format-2.enc.ini", "getsops-sops-pr1031/example.ini"]) {
      const { metadata } = iniStore.loadEncrypted(readFileSync(join(VECTORS, f)));
      expect(metadata.get("version"), f).toMatch(/^3\./);
      const enc = ((metadata.get("pgp") ?? metadata.get("age")) as Branch[])[0]?.get("enc") as string;
      expect(enc, f).toMatch(/^-----BEGIN [A-Z ]+-----\n/);
    }
  });

  it("refuses garbage", () => {
    expect(() => iniStore.loadPlain(Buffer.from("[s\n"))).toThrowError(expect.objectContaining({ code: "SOPS_MALFORMED_FILE" }));
    expect(() => iniStore.loadPlain(Buffer.from("just words\n"))).toThrowError(expect.objectContaining({ code: "SOPS_MALFORMED_FILE" }));
  });
});

describe("binary store and metadata flattening", () => {
  it("keeps arbitrary bytes", () => {
    const bytes = new Uint8Array([0, 255, 10, 13, 0xc3]);
    expect(binaryStore.emitPlain(binaryStore.loadPlain(bytes))).toEqual(bytes);
    expect(() => binaryStore.loadEncrypted(Buffer.from('{"x": 1, "sops": {}}'))).toThrowError(expect.objectContaining({ message: expect.stringContaining("--input-type json") }));
  });

  it("flattens and unflattens as sops flatten.go", () => {
    const m = new Branch([
      { key: "age", value: [new Branch([{ key: "recipient", value: "r" }, { key: "enc", value: "e" }])] },
      { key: "version", value: "3.13.1" },
    ]);
    const flat = flatten(m, "sops_");
    expect(flat).toEqual([["sops_age__list_0__map_enc", "e"], ["sops_age__list_0__map_recipient", "r"], ["sops_version", "3.13.1"]]);
    const back = unflatten(flat, "sops_");
    expect(((back.get("age") as Branch[])[0] as Branch).get("enc")).toBe("e");
    expect(() => unflatten([["sops_a", "1"], ["sops_a__map_b", "2"]], "sops_")).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_METADATA" }));
    expect(() => unflatten([["sops_l__list_1", "x"]], "sops_")).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_METADATA" }));
  });
});
