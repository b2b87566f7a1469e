import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { generateAgeKey } from "../../src/sops/age.js";
import { findSopsConfig, matchCreationRule, parseSopsConfig, pathRegExp, type SopsConfig } from "../../src/sops/sops-config.js";
import { tempDir } from "../helpers/gitdir.js";

let k: string[] = [];
beforeAll(async () => {
  k = (await Promise.all(Array.from({ length: 6 }, () => generateAgeKey()))).map((x) => x.recipient);
});

const cfg = (text: string, path = "/repo/.sops.yaml"): SopsConfig => parseSopsConfig(text, path);

function failure(fn: () => unknown): Error & { code: string; data: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code: string; data: Record<string, unknown> };
  }
  throw new Error("expected a failure");
}

describe("findSopsConfig: from the working directory up, as sops looks", () => {
  it("finds the nearest .sops.yaml above the start directory and never .sops.yml", async () => {
    const root = tempDir();
    mkdirSync(join(root, "a/b/c"), { recursive: true });
    writeFileSync(join(root, ".sops.yaml"), "creation_rules: []\n");
    writeFileSync(join(root, "a/b/.sops.yml"), "creation_rules: []\n");
    expect(await findSopsConfig(join(root, "a/b/c"), { env: {} })).toBe(join(root, ".sops.yaml"));
    writeFileSync(join(root, "a/.sops.yaml"), "creation_rules: []\n");
    expect(await findSopsConfig(join(root, "a/b/c"), { env: {} })).toBe(join(root, "a/.sops.yaml"));
    expect(await findSopsConfig(join(root, "a"), { env: {} })).toBe(join(root, "a/.sops.yaml"));
  });

  it("looks at the start directory and 99 parents, no further (config.go maxDepth = 100)", async () => {
    const root = tempDir();
    writeFileSync(join(root, ".sops.yaml"), "creation_rules: []\n");
    const deep = (n: number) => join(root, ...Array.from({ length: n }, (_, i) => `d${i}`));
    mkdirSync(deep(100), { recursive: true });
    expect(await findSopsConfig(deep(99), { env: {} })).toBe(join(root, ".sops.yaml"));
    expect(await findSopsConfig(deep(100), { env: {} })).toBeUndefined();
  });

  it("takes --config over SOPS_CONFIG over the walk, relative to the start directory", async () => {
    const root = tempDir();
    mkdirSync(join(root, "sub"));
    writeFileSync(join(root, ".sops.yaml"), "");
    writeFileSync(join(root, "env.yaml"), "");
    writeFileSync(join(root, "flag.yaml"), "");
    expect(await findSopsConfig(join(root, "sub"), { env: { SOPS_CONFIG: "../env.yaml" } })).toBe(join(root, "env.yaml"));
    expect(await findSopsConfig(join(root, "sub"), { env: { SOPS_CONFIG: join(root, "env.yaml") }, explicitPath: "../flag.yaml" })).toBe(join(root, "flag.yaml"));
    expect(await findSopsConfig(join(root, "sub"), { env: { SOPS_CONFIG: "" } })).toBe(join(root, ".sops.yaml"));
  });

  it("refuses an explicit config that does not exist", async () => {
    const root = tempDir();
    await expect(findSopsConfig(root, { env: { SOPS_CONFIG: "nope.yaml" } })).rejects.toMatchObject({ code: "FILE_NOT_FOUND", message: expect.stringContaining(join(root, "nope.yaml")) });
    await expect(findSopsConfig(root, { explicitPath: "gone.yaml", env: {} })).rejects.toMatchObject({ code: "FILE_NOT_FOUND" });
  });
});

describe("parseSopsConfig", () => {
  it("reads age as a comma string or a list whose entries hold comma lists", () => {
    const c = cfg(`creation_rules:
  - path_regex: a
    age: " ${k[0]} ,${k[1]},"
  - path_regex: b
    age:
      - ${k[0]}
      - "${k[1]}, ${k[2]}"
`);
    expect(c.creationRules.map((r) => r.keyGroups)).toEqual([[[k[0], k[1]]], [[k[0], k[1], k[2]]]]);
    expect(c.dir).toBe("/repo");
  });

  it("orders key groups with merged groups' keys first, recursively, without duplicates inside a group", () => {
    // The shape of sops' config_test.go sampleConfigWithMergeType, with age keys.
    const c = cfg(`creation_rules:
  - path_regex: ""
    key_groups:
    - age: [${k[0]}]
    - merge:
      - merge:
        - age: [${k[1]}]
        - age: [${k[2]}]
        age: [${k[3]}, ${k[2]}]
      - age: [${k[4]}]
      age: [${k[0]}]
`);
    expect(c.creationRules[0]?.keyGroups).toEqual([[k[0]], [k[1], k[2], k[3], k[4], k[0]]]);
  });

  it("uses the rule's own keys when key_groups is empty, and ignores them when it is not", () => {
    const c = cfg(`creation_rules:
  - path_regex: x
    key_groups: []
    age: ${k[0]}
  - age: ${k[0]}
    key_groups:
      - age: [${k[1]}]
`);
    expect(c.creationRules.map((r) => r.keyGroups)).toEqual([[[k[0]]], [[k[1]]]]);
  });

  it("reads shamir_threshold, mac_only_encrypted and stores as go-yaml decodes them into sops' struct", () => {
    const c = cfg(`stores:
  yaml: {indent: 2}
  json: {indent: "4"}
  json_binary: {}
creation_rules:
  - shamir_threshold: 0x2
    mac_only_encrypted: yes
    age: ${k[0]}
  - shamir_threshold: 0
    mac_only_encrypted: false
    age: ${k[0]}
`);
    expect(c.stores).toEqual({ yaml: { indent: 2 }, json: { indent: 4 }, json_binary: {} });
    expect(c.creationRules[0]).toMatchObject({ shamirThreshold: 2, macOnlyEncrypted: true });
    expect(c.creationRules[1]?.shamirThreshold).toBeUndefined();
    expect(c.creationRules[1]?.macOnlyEncrypted).toBeUndefined();
  });

  it.each(["unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex", "unencrypted_comment_regex", "encrypted_comment_regex"])("reads the selection rule %s", (kind) => {
    expect(cfg(`creation_rules:\n  - ${kind}: "^x$"\n`).creationRules[0]?.selection).toEqual({ kind, value: "^x$" });
  });

  // sops' config_test.go sampleConfigWithInvalidParameters: a suffix and another rule together.
  it("refuses two selection rules in one creation rule, naming both", () => {
    const e = failure(() => cfg("creation_rules:\n  - path_regex: foobar*\n    unencrypted_suffix: _unencrypted\n    encrypted_suffix: _enc\n"));
    expect(e.code).toBe("SOPS_INVALID_CONFIG");
    expect(e.message).toContain("creation_rules[0] sets unencrypted_suffix and encrypted_suffix");
    expect(e.message).toContain("/repo/.sops.yaml");
  });

  it("ignores unknown keys and follows anchors, aliases and << merges", () => {
    const c = cfg(`keys:
  - &alice ${k[0]}
  - &bob ${k[1]}
defaults: &defaults
  encrypted_regex: ^(data|stringData)$
  mac_only_encrypted: true
destination_rules: [{path_regex: x, s3_bucket: y}]
creation_rules:
  - <<: *defaults
    path_regex: ^prod/
    age: [*alice, *bob]
    something_new: 1
`);
    expect(c.creationRules[0]).toEqual({ pathRegex: "^prod/", keyGroups: [[k[0], k[1]]], selection: { kind: "encrypted_regex", value: "^(data|stringData)$" }, macOnlyEncrypted: true });
  });

  it("reads an empty file, or one without creation rules, as no rules", () => {
    expect(cfg("").creationRules).toEqual([]);
    expect(cfg("creation_rules:\n").creationRules).toEqual([]);
    expect(cfg("# just a comment\n").stores).toEqual({});
  });

  it("records key types boot-meta cannot encrypt for instead of dropping them", () => {
    // sops' config_test.go TestCreationRuleNativeKeyLists.
    const c = cfg(`creation_rules:
  - path_regex: native_list*
    pgp:
      - "85D77543B3D624B63CEA9E6DBC17301B491B3F21"
    kms:
      - "arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012"
    age:
      - "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    gcp_kms:
      - "projects/test-project/locations/global/keyRings/test-ring/cryptoKeys/test-key"
    hc_vault_transit_uri:
      - "https://vault.example.com:8200/v1/transit/keys/key1"
  - key_groups:
      - age: [${k[0]}]
        merge: [{pgp: [ABC]}]
`);
    expect(c.creationRules[0]?.otherKeyTypes).toEqual(["pgp", "kms", "gcp_kms", "hc_vault_transit_uri"]);
    expect(c.creationRules[0]?.keyGroups).toEqual([["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]]);
    expect(c.creationRules[1]?.otherKeyTypes).toEqual(["pgp"]);
  });

  it.each([
    ["not YAML", "creation_rules: [", "not valid YAML"],
    ["a list at the top", "- a\n- b\n", "top level must be a map"],
    ["creation_rules as a map", "creation_rules: {a: 1}\n", "creation_rules must be a list"],
    ["a rule that is a string", "creation_rules: [x]\n", "creation_rules[0] must be a map"],
    ["a worded threshold", "creation_rules:\n  - shamir_threshold: two\n", 'shamir_threshold must be a whole number, not "two"'],
    ["a negative threshold", "creation_rules:\n  - shamir_threshold: -1\n", "cannot be negative"],
    ["a maybe for a bool", "creation_rules:\n  - mac_only_encrypted: maybe\n", "must be true or false"],
    ["age as a map", "creation_rules:\n  - age: {a: b}\n", "age must be a string or a list of strings"],
    ["a key group that is a list", "creation_rules:\n  - key_groups: [[a]]\n", "key_groups[0] must be a map"],
    ["a duplicate key", "creation_rules:\n  - age: a\n    age: b\n", "not valid YAML"],
    ["a bad indent", "stores: {yaml: {indent: wide}}\n", "stores.yaml.indent must be a whole number"],
  ])("refuses %s with SOPS_INVALID_CONFIG", (_what, text, why) => {
    const e = failure(() => cfg(text));
    expect(e.code).toBe("SOPS_INVALID_CONFIG");
    expect(e.message).toContain(why);
  });
});

describe("matchCreationRule", () => {
  it("takes the first rule that matches, not the most specific (sops' TestLoadConfigFileWithComplicatedRegexp)", () => {
    const c = cfg(`creation_rules:
  - path_regex: "stage/dev/feature-.*"
    age: ${k[0]}
  - path_regex: "stage/dev/.*"
    age: ${k[1]}
  - path_regex: "stage/staging/.*"
    age: ${k[2]}
  - path_regex: "stage/.*/.*"
    age: ${k[3]}
`);
    expect(matchCreationRule(c, "/repo/stage/prod/api.yml").keyGroups).toEqual([[k[3]]]);
    expect(matchCreationRule(c, "/repo/stage/dev/feature-foo.yml").keyGroups).toEqual([[k[0]]]);
    expect(matchCreationRule(c, "/repo/stage/dev/api.yml").keyGroups).toEqual([[k[1]]]);
  });

  it("matches the path relative to the config's directory, and the absolute path outside it", () => {
    const c = cfg(`creation_rules:\n  - path_regex: ^prod/\n    age: ${k[0]}\n  - path_regex: ^/elsewhere/\n    age: ${k[1]}\n`, "/repo/.sops.yaml");
    expect(matchCreationRule(c, "/repo/prod/app.yaml").keyGroups).toEqual([[k[0]]]);
    expect(matchCreationRule(c, "/elsewhere/prod/app.yaml").keyGroups).toEqual([[k[1]]]);
    // A sibling directory whose name starts like the config's is not under it.
    expect(failure(() => matchCreationRule(c, "/repo2/prod/app.yaml")).code).toBe("SOPS_NO_CREATION_RULE");
  });

  it("matches unanchored like Go's regexp.MatchString (sops' TestLoadConfigFileWithAmbiguousPath)", () => {
    const c = cfg(`creation_rules:\n  - path_regex: foo/*\n    age: ${k[0]}\n`, "/foo/config");
    expect(matchCreationRule(c, "/foo/foo/bar").keyGroups).toEqual([[k[0]]]);
    expect(failure(() => matchCreationRule(c, "/foo/fuu/bar")).code).toBe("SOPS_NO_CREATION_RULE");
    const d = cfg(`creation_rules:\n  - path_regex: (?i)\\.PROD\\.yaml$\n    age: ${k[0]}\n`);
    expect(matchCreationRule(d, "/repo/a/b.prod.yaml").keyGroups).toEqual([[k[0]]]);
  });

  it("treats a rule without path_regex as matching everything", () => {
    const c = cfg(`creation_rules:\n  - path_regex: ^never$\n    age: ${k[0]}\n  - age: ${k[1]}\n  - age: ${k[2]}\n`);
    expect(matchCreationRule(c, "/anywhere/x.json").keyGroups).toEqual([[k[1]]]);
  });

  it("says which paths it tried when nothing matches, and when there are no rules", () => {
    const c = cfg(`creation_rules:\n  - path_regex: notexisting\n    age: ${k[0]}\n`);
    const e = failure(() => matchCreationRule(c, "/repo/foobar2000"));
    expect(e).toMatchObject({ code: "SOPS_NO_CREATION_RULE", data: { file: "foobar2000", pathRegexes: ["notexisting"] } });
    expect(e.message).toBe("no creation rule in /repo/.sops.yaml matches foobar2000");
    expect(failure(() => matchCreationRule(cfg(""), "/repo/x")).message).toContain("has no creation_rules");
  });

  it("checks only the rules it reaches: a broken later rule does not matter, as in sops", () => {
    const c = cfg(`creation_rules:\n  - path_regex: ^ok/\n    age: ${k[0]}\n  - path_regex: "[ ]\\\\K(?<!\\\\d )(?="\n    age: not-a-key\n`);
    expect(matchCreationRule(c, "/repo/ok/x.yaml").keyGroups).toEqual([[k[0]]]);
    // sops' TestLoadConfigFileWithInvalidComplicatedRegexp: the same pattern, reached.
    expect(failure(() => matchCreationRule(c, "/repo/other.yaml")).code).toBe("SOPS_INVALID_REGEX");
  });

  it("refuses a bad recipient, other key types and an empty key group in the rule it picks", () => {
    const c = cfg(`creation_rules:
  - path_regex: ^bad/
    age: ${k[0]},age1notakey
  - path_regex: ^pgp/
    age: ${k[0]}
    pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4
  - path_regex: ^groups/
    key_groups:
      - age: [${k[0]}]
      - age: []
`);
    expect(failure(() => matchCreationRule(c, "/repo/bad/x")).message).toContain('"age1notakey" is not a usable age recipient');
    const pgp = failure(() => matchCreationRule(c, "/repo/pgp/x"));
    expect(pgp).toMatchObject({ code: "SOPS_UNSUPPORTED_KEY_TYPE", data: { keyTypes: ["pgp"] } });
    expect(pgp.message).toContain("creation_rules[1]");
    expect(failure(() => matchCreationRule(c, "/repo/groups/x"))).toMatchObject({ code: "SOPS_INVALID_CONFIG", message: expect.stringContaining("key group 1 of creation_rules[2] has no age recipients") });
  });

  it("returns the rule's selection, threshold and flags with its groups", () => {
    const c = cfg(`creation_rules:
  - path_regex: \\.yaml$
    encrypted_regex: ^(data|stringData)$
    shamir_threshold: 2
    mac_only_encrypted: true
    key_groups:
      - age: ["${k[0]},${k[1]}"]
      - age: [${k[2]}]
      - age: [${k[3]}]
`);
    expect(matchCreationRule(c, "/repo/x.yaml")).toEqual({
      pathRegex: "\\.yaml$",
      keyGroups: [[k[0], k[1]], [k[2]], [k[3]]],
      shamirThreshold: 2,
      selection: { kind: "encrypted_regex", value: "^(data|stringData)$" },
      macOnlyEncrypted: true,
    });
  });
});

describe("pathRegExp: RE2 only", () => {
  it.each([
    ["(?=x)a", "lookaround"],
    ["a(?!b)", "lookaround"],
    ["(?<=x)a", "lookaround"],
    ["(a)\\1", "backreference"],
    ["\\Qa.b\\E", "\\Q…\\E"],
  ])("refuses %j (%s), which JavaScript would accept with another meaning", (p, why) => {
    const e = failure(() => pathRegExp(p));
    expect(e.code).toBe("SOPS_INVALID_REGEX");
    expect(e.message).toContain(why);
  });

  it.each([
    ["\\(?=", "(=", true],
    ["[(?=]x", "=x", true],
    ["[[:digit:]]+\\.yaml$", "a1.yaml", true],
    ["^prod/", "dev/prod/x", false],
    ["(?P<env>dev|prod)/", "prod/x", true],
  ])("keeps what RE2 means by %j", (p, input, matches) => {
    expect(pathRegExp(p).test(input)).toBe(matches);
  });
});
