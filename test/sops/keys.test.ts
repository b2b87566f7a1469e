import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { generateAgeKey, parseRecipients, unwrapDataKey, wrapDataKey } from "../../src/sops/age.js";
import { encryptBytes, openBytes, updateKeysBytes } from "../../src/sops/engine.js";
import { identitySetFrom, loadIdentities, parseIdentityFile } from "../../src/sops/identities.js";
import { combine, split } from "../../src/sops/shamir.js";
import { findSopsConfig, matchCreationRule, parseSopsConfig } from "../../src/sops/sops-config.js";
import { tempDir } from "../helpers/gitdir.js";
import { manifest, VECTORS } from "../helpers/vectors.js";

const runs = process.env.SLOW ? 300 : 25;

describe("age data-key wrapping", () => {
  it("writes one armored age file that the age CLI opens, and opens what `age -a -r` wrote", async () => {
    const dir = tempDir();
    const { identity, recipient } = await generateAgeKey();
    writeFileSync(join(dir, "k.txt"), `${identity}\n`);
    const key = new Uint8Array(32).map((_, i) => i);
    const enc = await wrapDataKey(key, recipient);
    expect(enc).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+\n-----END AGE ENCRYPTED FILE-----\n$/);
    expect(new Uint8Array(execFileSync("age", ["-d", "-i", join(dir, "k.txt")], { input: enc }))).toEqual(key);
    const byAge = execFileSync("age", ["-a", "-r", recipient], { input: Buffer.from(key) }).toString();
    expect(await unwrapDataKey(byAge, await identitySetFrom([identity]))).toEqual(key);
  });

  it("resolves undefined for someone else's key, and refuses a damaged armor", async () => {
    const a = await generateAgeKey();
    const b = await generateAgeKey();
    const enc = await wrapDataKey(new Uint8Array(32), a.recipient);
    expect(await unwrapDataKey(enc, await identitySetFrom([b.identity]))).toBeUndefined();
    await expect(unwrapDataKey(enc.replace("-----END", "-----XND"), await identitySetFrom([a.identity]))).rejects.toMatchObject({ code: "SOPS_WRAPPED_KEY_CORRUPT" });
  });

  it("round-trips the post-quantum hybrid recipients", async () => {
    const pq = await generateAgeKey({ postQuantum: true });
    expect(pq.recipient).toMatch(/^age1pq1/);
    const enc = await wrapDataKey(new Uint8Array(32).fill(9), pq.recipient);
    expect(await unwrapDataKey(enc, await identitySetFrom([pq.identity]))).toEqual(new Uint8Array(32).fill(9));
  });

  it.each(["age1notakey", "ssh-ed25519 AAAA", "gpg:ABC", "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"])("refuses the recipient %j", (r) => {
    expect(() => parseRecipients(r)).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_RECIPIENT" }));
  });

  it("splits comma lists and drops duplicates", async () => {
    const a = await generateAgeKey();
    const b = await generateAgeKey();
    expect(parseRecipients(` ${a.recipient} ,${b.recipient},${a.recipient}`)).toEqual([a.recipient, b.recipient]);
  });
});

describe("identity lookup, as sops does it", () => {
  it("parses every key file that ships with the vectors, the bare one-line one included", () => {
    for (const key of new Set(manifest.flatMap((m) => m.keys))) {
      const ids = parseIdentityFile(readFileSync(join(VECTORS, key), "utf8"), key);
      expect(ids.length, key).toBeGreaterThan(0);
    }
  });

  it("combines SOPS_AGE_KEY (several per line), SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and the default keys.txt", async () => {
    const home = tempDir();
    const [k1, k2, k3, k4, k5] = await Promise.all([1, 2, 3, 4, 5].map(() => generateAgeKey()));
    const file = join(home, "file.txt");
    writeFileSync(file, `# a comment\r\n\r\n${k3?.identity}\r\n`);
    const cmdFile = join(home, "cmd.txt");
    writeFileSync(cmdFile, `${k4?.identity}\n`);
    mkdirSync(join(home, "xdg/sops/age"), { recursive: true });
    writeFileSync(join(home, "xdg/sops/age/keys.txt"), `${k5?.identity}`);
    const set = await loadIdentities({
      env: { SOPS_AGE_KEY: `${k1?.identity} ${k2?.identity}`, SOPS_AGE_KEY_FILE: file, SOPS_AGE_KEY_CMD: `cat ${cmdFile}`, XDG_CONFIG_HOME: join(home, "xdg") },
      homeDir: home,
      platform: "linux",
    });
    expect(set.recipients).toEqual([k1, k2, k3, k4, k5].map((k) => k?.recipient));
    expect(set.searched.map((s) => s.source.kind)).toEqual(["SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "default-keys-file"]);
  });

  it("finds ~/.config/sops/age/keys.txt when XDG_CONFIG_HOME is unset, and tolerates its absence", async () => {
    const home = tempDir();
    expect((await loadIdentities({ env: {}, homeDir: home, platform: "linux" })).identities).toEqual([]);
    const k = await generateAgeKey();
    mkdirSync(join(home, ".config/sops/age"), { recursive: true });
    writeFileSync(join(home, ".config/sops/age/keys.txt"), `${k.identity}\n`);
    expect((await loadIdentities({ env: {}, homeDir: home, platform: "linux" })).recipients).toEqual([k.recipient]);
  });

  it("refuses a file that is not a key file, naming the line but never its content", async () => {
    const home = tempDir();
    const bad = join(home, "bad.txt");
    writeFileSync(bad, "# ok\nAGE-SECRET-KEY-1\nnot a key at all SECRETSTUFF\n");
    const e = await loadIdentities({ env: { SOPS_AGE_KEY_FILE: bad }, homeDir: home }).catch((x) => x);
    expect(e).toMatchObject({ code: "SOPS_INVALID_IDENTITY" });
    expect(e.message).toContain(bad);
    expect(e.message).not.toContain("SECRETSTUFF");
  });

  it("refuses a missing SOPS_AGE_KEY_FILE, a failing command and a passphrase-protected file", async () => {
    const home = tempDir();
    await expect(loadIdentities({ env: { SOPS_AGE_KEY_FILE: join(home, "nope") }, homeDir: home })).rejects.toMatchObject({ code: "SOPS_INVALID_IDENTITY", message: expect.stringContaining("does not exist") });
    await expect(loadIdentities({ env: { SOPS_AGE_KEY_CMD: "false" }, homeDir: home })).rejects.toMatchObject({ code: "SOPS_INVALID_IDENTITY", message: expect.stringContaining("exit code 1") });
    const enc = join(home, "enc.txt");
    writeFileSync(enc, "age-encryption.org/v1\n-> scrypt xyz 18\n");
    await expect(loadIdentities({ env: { SOPS_AGE_KEY_FILE: enc }, homeDir: home })).rejects.toMatchObject({ code: "SOPS_INVALID_IDENTITY", message: expect.stringContaining("passphrase") });
  });
});

describe("Shamir secret sharing (sops shamir/shamir.go)", () => {
  test.prop([fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 0, max: 4 })], { numRuns: runs })("any threshold of the shares rebuilds the secret", (secret, threshold, extra) => {
    const parts = threshold + extra;
    const shares = split(secret, parts, threshold);
    expect(shares.every((s) => s.length === secret.length + 1)).toBe(true);
    expect(shares.map((s) => s[secret.length])).toEqual(Array.from({ length: parts }, (_, i) => i + 1));
    const pick = [...shares].reverse().slice(0, threshold);
    expect(combine(pick)).toEqual(secret);
  });

  it("does not rebuild the secret from fewer shares than the threshold", () => {
    const secret = new Uint8Array(32).fill(0xab);
    const shares = split(secret, 3, 3);
    expect(combine(shares.slice(0, 2))).not.toEqual(secret);
  });

  it("combines known shares like sops' own test (parts of a Vault-style split)", () => {
    // One byte 0x2a split with a fixed degree-1 polynomial 0x2a + 0x07·x over GF(2^8):
    // x=1 → 0x2a^0x07 = 0x2d, x=2 → 0x2a^mul(7,2)=0x2a^0x0e = 0x24.
    expect(combine([new Uint8Array([0x2d, 1]), new Uint8Array([0x24, 2])])).toEqual(new Uint8Array([0x2a]));
  });

  it("refuses bad parameters and duplicate shares", () => {
    expect(() => split(new Uint8Array(2), 2, 3)).toThrowError(expect.objectContaining({ code: "SOPS_SHAMIR" }));
    expect(() => split(new Uint8Array(2), 3, 1)).toThrowError(expect.objectContaining({ code: "SOPS_SHAMIR" }));
    const s = split(new Uint8Array(2), 2, 2);
    expect(() => combine([s[0] as Uint8Array, s[0] as Uint8Array])).toThrowError(expect.objectContaining({ code: "SOPS_SHAMIR" }));
  });
});

describe("key groups end to end", () => {
  it("needs shamir_threshold groups to open a file, and updatekeys keeps values untouched", async () => {
    const [a, b, c] = await Promise.all([generateAgeKey(), generateAgeKey(), generateAgeKey()]);
    if (!a || !b || !c) throw new Error("keys");
    const enc = await encryptBytes(Buffer.from("s: v\n"), { format: "yaml", keyGroups: [[a.recipient], [b.recipient], [c.recipient]], shamirThreshold: 2 });
    const meta = parse(Buffer.from(enc).toString()).sops;
    expect(meta.key_groups).toHaveLength(3);
    expect(meta.shamir_threshold).toBe(2);
    const two = await identitySetFrom([a.identity, c.identity]);
    expect((await openBytes(enc, { format: "yaml", identities: two })).tree[0]?.get("s")).toBe("v");
    await expect(openBytes(enc, { format: "yaml", identities: await identitySetFrom([b.identity]) })).rejects.toMatchObject({ code: "SOPS_DATA_KEY_UNAVAILABLE", message: expect.stringContaining("1 of the 2 key groups") });
    const d = await generateAgeKey();
    const up = await updateKeysBytes(enc, { format: "yaml", keyGroups: [[a.recipient], [b.recipient, d.recipient], [c.recipient]], identities: two });
    expect(up.added).toEqual([d.recipient]);
    const after = parse(Buffer.from(up.bytes).toString());
    expect(after.s).toBe(parse(Buffer.from(enc).toString()).s);
    expect(after.sops.mac).toBe(meta.mac);
    const withD = await identitySetFrom([d.identity, c.identity]);
    expect((await openBytes(up.bytes, { format: "yaml", identities: withD })).tree[0]?.get("s")).toBe("v");
  });
});

describe(".sops.yaml", () => {
  it("is found from the current directory upward, and SOPS_CONFIG wins", async () => {
    const root = tempDir();
    mkdirSync(join(root, "a/b/c"), { recursive: true });
    writeFileSync(join(root, ".sops.yaml"), "creation_rules: []\n");
    expect(await findSopsConfig(join(root, "a/b/c"), { env: {} })).toBe(join(root, ".sops.yaml"));
    writeFileSync(join(root, "a/other.yaml"), "creation_rules: []\n");
    expect(await findSopsConfig(join(root, "a/b/c"), { env: { SOPS_CONFIG: join(root, "a/other.yaml") } })).toBe(join(root, "a/other.yaml"));
  });

  it("picks the first matching rule against the path relative to the config, with key groups and merges", async () => {
    const [a, b, c] = await Promise.all([generateAgeKey(), generateAgeKey(), generateAgeKey()]);
    const text = `
keys: &admins ${a?.recipient}
creation_rules:
  - path_regex: ^prod/.*\\.yaml$
    encrypted_regex: ^(data|stringData)$
    key_groups:
      - age: [*admins]
        merge:
          - age: ["${b?.recipient},${c?.recipient}"]
      - age: [${c?.recipient}]
    shamir_threshold: 2
  - path_regex: \\.yaml$
    age: ${a?.recipient}, ${b?.recipient}
    unknown_key: ignored
`;
    const cfg = parseSopsConfig(text, "/repo/.sops.yaml");
    const prod = matchCreationRule(cfg, "/repo/prod/app.yaml");
    expect(prod.keyGroups).toEqual([[b?.recipient, c?.recipient, a?.recipient], [c?.recipient]]);
    expect(prod.selection).toEqual({ kind: "encrypted_regex", value: "^(data|stringData)$" });
    expect(prod.shamirThreshold).toBe(2);
    expect(matchCreationRule(cfg, "/repo/dev/app.yaml").keyGroups).toEqual([[a?.recipient, b?.recipient]]);
    expect(() => matchCreationRule(cfg, "/repo/dev/app.json")).toThrowError(expect.objectContaining({ code: "SOPS_NO_CREATION_RULE" }));
  });

  it("refuses two selection rules in one creation rule, and bad YAML", () => {
    expect(() => parseSopsConfig("creation_rules:\n  - encrypted_regex: a\n    unencrypted_suffix: b\n", "x")).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_CONFIG" }));
    expect(() => parseSopsConfig("creation_rules: [", "x")).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_CONFIG" }));
  });
});
