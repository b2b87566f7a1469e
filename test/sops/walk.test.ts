import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decryptValue, encryptValue } from "../../src/sops/cipher.js";
import { formatLastModified, parseMetadata, serializeMetadata } from "../../src/sops/metadata.js";
import { DEFAULT_SELECTION, type SelectionRule, shouldBeEncrypted } from "../../src/sops/selection.js";
import { Branch, Comment, type Value } from "../../src/sops/tree.js";
import { decryptTree, encryptTree } from "../../src/sops/walk.js";

const key = new Uint8Array(32).fill(3);
const b = (o: [string, Value][]) => new Branch(o.map(([k, value]) => ({ key: k, value })));

describe("tree walk", () => {
  const tree = [
    new Branch([
      { comment: new Comment(" top comment") },
      { key: "app", value: b([["db", b([["password", "pw"], ["port", 5432n]])], ["ratio", 0.5]]) },
      { key: "hosts", value: ["a", new Comment(" in a list"), b([["name", "n"]])] },
      { key: "empty", value: "" },
      { key: "nothing", value: null },
      { key: "flag_unencrypted", value: true },
    ]),
  ];

  it("uses the key path plus ':' as AAD, without list indices; comments take the enclosing map's path", () => {
    const { tree: enc } = encryptTree(tree, { key, selection: DEFAULT_SELECTION, macOnlyEncrypted: false });
    const root = enc[0] as Branch;
    const top = root.items[0] as { comment: Comment };
    expect(decryptValue(top.comment.text, key, ":")).toEqual(new Comment(" top comment"));
    const db = (root.get("app") as Branch).get("db") as Branch;
    expect(decryptValue(db.get("password") as string, key, "app:db:password:")).toBe("pw");
    expect(decryptValue(db.get("port") as string, key, "app:db:port:")).toBe(5432n);
    const hosts = root.get("hosts") as Value[];
    expect(decryptValue(hosts[0] as string, key, "hosts:")).toBe("a");
    // A comment in a list becomes a string item `ENC[…,type:comment]` (sops.go walkSlice).
    expect(typeof hosts[1]).toBe("string");
    expect(decryptValue(hosts[1] as string, key, "hosts:")).toEqual(new Comment(" in a list"));
    expect(decryptValue((hosts[2] as Branch).get("name") as string, key, "hosts:name:")).toBe("n");
    expect(root.get("empty")).toBe("");
    expect(root.get("nothing")).toBeNull();
    expect(root.get("flag_unencrypted")).toBe(true);
  });

  it("hashes plaintext leaves in walk order without separators, comments and nulls excluded", () => {
    const { mac } = encryptTree(tree, { key, selection: DEFAULT_SELECTION, macOnlyEncrypted: false });
    const expected = createHash("sha512").update("pw5432" + "0.5" + "a" + "n" + "" + "True").digest("hex").toUpperCase();
    expect(mac).toBe(expected);
  });

  it("decrypts back to the same tree and the same MAC, list comments back to comments", () => {
    const { tree: enc, mac } = encryptTree(tree, { key, selection: DEFAULT_SELECTION, macOnlyEncrypted: false });
    const { tree: dec, mac: mac2 } = decryptTree(enc, { key, selection: DEFAULT_SELECTION, macOnlyEncrypted: false });
    expect(mac2).toBe(mac);
    expect(dec).toEqual(tree);
  });

  it("with mac_only_encrypted hashes a fixed prefix and only encrypted values", () => {
    const { mac } = encryptTree(tree, { key, selection: DEFAULT_SELECTION, macOnlyEncrypted: true });
    const prefix = Buffer.from("8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69", "hex");
    const expected = createHash("sha512").update(prefix).update("pw5432" + "0.5" + "a" + "n" + "").digest("hex").toUpperCase();
    expect(mac).toBe(expected);
  });

  it("keeps comments that were never encrypted (files from older sops) but refuses a tampered encrypted one", () => {
    const old = [new Branch([{ comment: new Comment(" plain old comment") }, { key: "a", value: encryptValue("x", key, "a:") }])];
    const { tree: dec } = decryptTree(old, { key, selection: DEFAULT_SELECTION, macOnlyEncrypted: false });
    expect((dec[0] as Branch).items[0]).toEqual({ comment: new Comment(" plain old comment") });
    const bad = [new Branch([{ comment: new Comment(encryptValue(new Comment("c"), key, "elsewhere:")) }])];
    expect(() => decryptTree(bad, { key, selection: DEFAULT_SELECTION, macOnlyEncrypted: false })).toThrowError(expect.objectContaining({ code: "SOPS_VALUE_AUTH_FAILED" }));
  });

  it("refuses a plain value where an encrypted one belongs", () => {
    const t = [b([["password", 42n]])];
    expect(() => decryptTree(t, { key, selection: DEFAULT_SELECTION, macOnlyEncrypted: false, file: "x.yaml" })).toThrowError(expect.objectContaining({ code: "SOPS_MALFORMED_VALUE", message: expect.stringContaining("x.yaml: password") }));
  });
});

describe("selection rules (sops.go shouldBeEncrypted)", () => {
  const cases: [SelectionRule, string[], boolean][] = [
    [{ kind: "unencrypted_suffix", value: "_unencrypted" }, ["a_unencrypted", "b"], false],
    [{ kind: "unencrypted_suffix", value: "_unencrypted" }, ["a", "b"], true],
    [{ kind: "encrypted_suffix", value: "Templates" }, ["spec", "secretTemplates", "name"], true],
    [{ kind: "encrypted_suffix", value: "Templates" }, ["spec", "name"], false],
    [{ kind: "encrypted_regex", value: "^(data|stringData)$" }, ["stringData", "password"], true],
    [{ kind: "encrypted_regex", value: "^(data|stringData)$" }, ["metadata", "name"], false],
    [{ kind: "unencrypted_regex", value: "^public" }, ["x", "public_key"], false],
    [{ kind: "encrypted_regex", value: "(?i)^SECRET" }, ["secret_key"], true],
  ];
  it.each(cases)("%o on %o → %s", (rule, path, want) => {
    expect(shouldBeEncrypted(rule, path, [[]], false)).toBe(want);
  });

  it("refuses a selection regex Go's RE2 cannot run (sops would fail on it)", () => {
    expect(() => shouldBeEncrypted({ kind: "encrypted_regex", value: "^(?!public)" }, ["a"], [[]], false)).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_REGEX", message: expect.stringContaining("lookaround") }));
  });

  it("encrypted_comment_regex encrypts what follows a marker comment but not the marker", () => {
    const rule: SelectionRule = { kind: "encrypted_comment_regex", value: "sops:enc" };
    expect(shouldBeEncrypted(rule, ["a"], [["sops:enc"]], false)).toBe(true);
    expect(shouldBeEncrypted(rule, ["a"], [["sops:enc"]], true)).toBe(false);
    expect(shouldBeEncrypted(rule, ["a"], [[]], false)).toBe(false);
  });
});

describe("metadata", () => {
  const meta = {
    keyGroups: [{ age: [{ recipient: "age1abc", enc: "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n" }], pgp: [], other: {} }],
    shamirThreshold: 0,
    lastModified: "2026-01-02T03:04:05Z",
    mac: "ENC[x]",
    selection: { kind: "encrypted_regex", value: "^data$" } as SelectionRule,
    macOnlyEncrypted: true,
    version: "3.13.1",
  };

  it("writes the 3.13 layout: keys sorted at every level, enc before recipient", () => {
    const s = serializeMetadata(meta);
    expect(s.keys()).toEqual(["age", "encrypted_regex", "lastmodified", "mac", "mac_only_encrypted", "version"]);
    expect(((s.get("age") as Value[])[0] as Branch).keys()).toEqual(["enc", "recipient"]);
    expect(parseMetadata(s)).toEqual(meta);
  });

  it("writes key_groups and shamir_threshold for several groups, with age and hc_vault always present", () => {
    const two = { ...meta, keyGroups: [meta.keyGroups[0], meta.keyGroups[0]], shamirThreshold: 2 } as typeof meta;
    const s = serializeMetadata(two);
    expect(s.keys()).toContain("key_groups");
    expect(s.get("shamir_threshold")).toBe(2n);
    expect(((s.get("key_groups") as Value[])[0] as Branch).keys()).toEqual(["age", "hc_vault"]);
    expect(parseMetadata(s)).toEqual(two);
  });

  it("accepts flattened string forms (dotenv/INI) and the default rule when none is named", () => {
    const flat = b([
      ["age", [b([["recipient", "age1abc"], ["enc", "e"]])]],
      ["lastmodified", "2026-01-02T03:04:05Z"],
      ["mac", "m"],
      ["version", "3.7.1"],
      ["shamir_threshold", "2.0"],
      ["mac_only_encrypted", "true"],
    ]);
    const m = parseMetadata(flat);
    expect(m.shamirThreshold).toBe(2);
    expect(m.macOnlyEncrypted).toBe(true);
    expect(m.selection).toBeUndefined();
  });

  it.each([
    [b([["lastmodified", "2026-01-02T03:04:05Z"], ["mac", "m"]]), /no keys found/],
    [b([["age", [b([["recipient", "age1"], ["enc", "e"]])]], ["lastmodified", "yesterday"], ["mac", "m"]]), /not an RFC 3339/],
    [b([["age", [b([["recipient", "age1"], ["enc", "e"]])]], ["lastmodified", "2026-01-02T03:04:05Z"], ["encrypted_regex", "a"], ["unencrypted_suffix", "b"]]), /more than one selection rule/],
    [b([["age", "not a list"], ["lastmodified", "2026-01-02T03:04:05Z"]]), /should be a list/],
  ])("refuses invalid metadata %#", (branch, msg) => {
    expect(() => parseMetadata(branch, "f.yaml")).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_METADATA", message: expect.stringMatching(msg) }));
  });

  it("formats lastmodified as RFC 3339 seconds in UTC", () => {
    expect(formatLastModified(new Date("2026-11-25T10:11:12.345+02:00"))).toBe("2026-11-25T08:11:12Z");
  });
});
