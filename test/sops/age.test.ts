import { execFileSync } from "node:child_process";
import { createDecipheriv } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import { armor, Encrypter } from "age-encryption";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { generateAgeKey, parseRecipients, parseSshIdentity, stanzasOf, unwrapDataKey, wrapDataKey } from "../../src/sops/age.js";
import { identitySetFrom, parseIdentityFile } from "../../src/sops/identities.js";
import { tempDir } from "../helpers/gitdir.js";
import { VECTORS } from "../helpers/vectors.js";

const runs = process.env.SLOW ? 300 : 15;

/** The age entries of a YAML vector's sops metadata (top level, or every key group). */
function ageEntries(file: string): { recipient: string; enc: string }[] {
  const sops = parse(readFileSync(join(VECTORS, file), "utf8")).sops;
  const top = (sops.age ?? []) as { recipient: string; enc: string }[];
  return top.length ? top : ((sops.key_groups ?? []) as { age?: { recipient: string; enc: string }[] }[]).flatMap((g) => g.age ?? []);
}

/**
 * Proves a data key is the file's: it decrypts the file's `mac` (AES-256-GCM, AAD =
 * lastmodified, sops.go/common.go) to 128 upper-case hex digits.
 */
function macOf(file: string, dataKey: Uint8Array): string {
  const sops = parse(readFileSync(join(VECTORS, file), "utf8")).sops;
  const m = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:str\]/.exec(sops.mac) as RegExpExecArray;
  const d = createDecipheriv("aes-256-gcm", dataKey, Buffer.from(m[2] as string, "base64"));
  d.setAAD(Buffer.from(String(sops.lastmodified)));
  d.setAuthTag(Buffer.from(m[3] as string, "base64"));
  return Buffer.concat([d.update(Buffer.from(m[1] as string, "base64")), d.final()]).toString();
}

/** The stanza lines of an armored age file's header. */
function stanzaLines(enc: string): string[] {
  return Buffer.from(armor.decode(enc))
    .toString("latin1")
    .split("\n--- ")[0]!
    .split("\n")
    .filter((l) => l.startsWith("-> "));
}

const dataKey = () => new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);

describe("wrapDataKey: the enc sops stores", () => {
  it("is one armored age file with one stanza, 64 base64 columns and a final newline, that the age CLI opens", async () => {
    const dir = tempDir();
    const { identity, recipient } = await generateAgeKey();
    writeFileSync(join(dir, "key.txt"), `${identity}\n`);
    const enc = await wrapDataKey(dataKey(), recipient);
    const lines = enc.split("\n");
    expect(lines[0]).toBe("-----BEGIN AGE ENCRYPTED FILE-----");
    expect(lines.at(-2)).toBe("-----END AGE ENCRYPTED FILE-----");
    expect(lines.at(-1)).toBe("");
    const body = lines.slice(1, -2);
    expect(body.slice(0, -1).every((l) => l.length === 64)).toBe(true);
    expect(body.every((l) => /^[A-Za-z0-9+/]+=*$/.test(l))).toBe(true);
    expect(stanzaLines(enc)).toHaveLength(1);
    expect(stanzaLines(enc)[0]).toMatch(/^-> X25519 /);
    expect(new Uint8Array(execFileSync("age", ["-d", "-i", join(dir, "key.txt")], { input: enc }))).toEqual(dataKey());
  });

  it("opens what `age -a -r` wrote", async () => {
    const { identity, recipient } = await generateAgeKey();
    const byAge = execFileSync("age", ["-a", "-r", recipient], { input: Buffer.from(dataKey()) }).toString();
    expect(await unwrapDataKey(byAge, await identitySetFrom([identity]))).toEqual(dataKey());
  });

  it("wraps a 33-byte Shamir share as well as a data key", async () => {
    const k = await generateAgeKey();
    const share = new Uint8Array(33).fill(5);
    share[32] = 2;
    expect(await unwrapDataKey(await wrapDataKey(share, k.recipient), await identitySetFrom([k.identity]))).toEqual(share);
  });

  test.prop([fc.uint8Array({ minLength: 1, maxLength: 64 })], { numRuns: runs })("round-trips any payload", async (data) => {
    const k = await generateAgeKey();
    expect(await unwrapDataKey(await wrapDataKey(data, k.recipient), await identitySetFrom([k.identity]))).toEqual(data);
  });

  it("refuses a bad recipient with SOPS_INVALID_RECIPIENT", async () => {
    await expect(wrapDataKey(dataKey(), "age1nope")).rejects.toMatchObject({ code: "SOPS_INVALID_RECIPIENT" });
  });
});

describe("unwrapDataKey", () => {
  it("resolves undefined for someone else's key, so the caller tries the next entry", async () => {
    const a = await generateAgeKey();
    const b = await generateAgeKey();
    const pq = await generateAgeKey({ postQuantum: true });
    const enc = await wrapDataKey(dataKey(), a.recipient);
    expect(await unwrapDataKey(enc, await identitySetFrom([b.identity]))).toBeUndefined();
    expect(await unwrapDataKey(enc, await identitySetFrom([pq.identity]))).toBeUndefined();
    expect(await unwrapDataKey(enc, await identitySetFrom([]))).toBeUndefined();
  });

  it("finds the matching identity among several, whatever the hint says", async () => {
    const keys = await Promise.all([1, 2, 3, 4].map(() => generateAgeKey()));
    const set = await identitySetFrom(keys.map((k) => k.identity));
    const enc = await wrapDataKey(dataKey(), keys[2]!.recipient);
    expect(await unwrapDataKey(enc, set)).toEqual(dataKey());
    expect(await unwrapDataKey(enc, set, keys[2]!.recipient)).toEqual(dataKey());
    expect(await unwrapDataKey(enc, set, keys[0]!.recipient)).toEqual(dataKey());
  });

  it("refuses a damaged armor, a non-age payload and a tampered header or payload with SOPS_WRAPPED_KEY_CORRUPT", async () => {
    const a = await generateAgeKey();
    const set = await identitySetFrom([a.identity]);
    const enc = await wrapDataKey(dataKey(), a.recipient);
    const corrupt = { code: "SOPS_WRAPPED_KEY_CORRUPT" };
    await expect(unwrapDataKey(enc.replace("-----END", "-----XND"), set)).rejects.toMatchObject(corrupt);
    await expect(unwrapDataKey("not armored at all", set)).rejects.toMatchObject(corrupt);
    await expect(unwrapDataKey(armor.encode(new TextEncoder().encode("hello, not an age file\n")), set)).rejects.toMatchObject(corrupt);
    const raw = Buffer.from(armor.decode(enc));
    const mac = raw.indexOf("\n--- ") + 5;
    const badMac = Buffer.from(raw);
    badMac[mac] = badMac[mac] === 0x41 ? 0x42 : 0x41;
    await expect(unwrapDataKey(armor.encode(badMac), set)).rejects.toMatchObject(corrupt);
    const badPayload = Buffer.from(raw);
    badPayload[badPayload.length - 1] = (badPayload[badPayload.length - 1] as number) ^ 1;
    await expect(unwrapDataKey(armor.encode(badPayload), set)).rejects.toMatchObject(corrupt);
    // Damage in a file addressed to someone else is not this reader's business.
    expect(await unwrapDataKey(armor.encode(badPayload), await identitySetFrom([(await generateAgeKey()).identity]))).toBeUndefined();
  });

  it("takes an unusual but valid age file from the package path when the native path declines it", async () => {
    // Two stanzas (sops never writes these, age does): the second is ours.
    const a = await generateAgeKey();
    const b = await generateAgeKey();
    const e = new Encrypter();
    e.addRecipient(a.recipient);
    e.addRecipient(b.recipient);
    const enc = armor.encode(await e.encrypt(dataKey()));
    expect(await unwrapDataKey(enc, await identitySetFrom([b.identity]))).toEqual(dataKey());
  });
});

describe("post-quantum hybrid (age1pq1…)", () => {
  it("round-trips generateAgeKey({ postQuantum: true })", async () => {
    const pq = await generateAgeKey({ postQuantum: true });
    expect(pq.identity).toMatch(/^AGE-SECRET-KEY-PQ-1/);
    expect(pq.recipient).toMatch(/^age1pq1/);
    const enc = await wrapDataKey(dataKey(), pq.recipient);
    expect(stanzaLines(enc)[0]).toMatch(/^-> mlkem768x25519 /);
    expect(await unwrapDataKey(enc, await identitySetFrom([pq.identity]))).toEqual(dataKey());
    expect(await unwrapDataKey(enc, await identitySetFrom([(await generateAgeKey()).identity]))).toBeUndefined();
  });

  it("opens fluxcd-kustomize-controller/age-pq.yaml (written by sops 3.12.1) with age-pq.txt", async () => {
    const [entry] = ageEntries("fluxcd-kustomize-controller/age-pq.yaml");
    const set = await identitySetFrom([readFileSync(join(VECTORS, "fluxcd-kustomize-controller/age-pq.txt"), "utf8")]);
    expect(set.recipients).toEqual([entry?.recipient]);
    const key = (await unwrapDataKey(entry!.enc, set, entry!.recipient)) as Uint8Array;
    expect(key).toHaveLength(32);
    expect(macOf("fluxcd-kustomize-controller/age-pq.yaml", key)).toMatch(/^[0-9A-F]{128}$/);
  });
});

// Every key file shipped with the vectors, and a YAML vector it opens (README.md in test/fixtures/sops-upstream).
const keyVectors: [key: string, vector: string][] = [
  ["getsops-sops-pr1031/keys.txt", "getsops-sops-pr1031/example.yaml"],
  ["fluxcd-kustomize-controller/age.txt", "fluxcd-kustomize-controller/age.yaml"],
  ["fluxcd-kustomize-controller/age-pq.txt", "fluxcd-kustomize-controller/age-pq.yaml"],
  ["fluxcd-kustomize-controller/age-global.txt", "fluxcd-kustomize-controller/global-secret.yaml"],
  ["mic92-sops-nix/age-keys.txt", "mic92-sops-nix/secrets.yaml"],
  ["jkroepke-helm-secrets/key.txt", "jkroepke-helm-secrets/secrets.age.yaml"],
  ["isindir-sops-secrets-operator/key-file.txt", "isindir-sops-secrets-operator/00-test-secrets.yaml"],
  ["peak-scale-sops-operator/key-1.agekey", "peak-scale-sops-operator/secret-multi.enc.yaml"],
  ["peak-scale-sops-operator/key-2.agekey", "peak-scale-sops-operator/secret-multi.enc.yaml"],
  ["denis256-terragrunt-tests/keys.txt", "denis256-terragrunt-tests/file.enc.yaml"],
  ["humphd-sops-age/key.txt", "humphd-sops-age/secret.enc.yaml"],
];

describe("the age vectors written by sops", () => {
  it.each(keyVectors)("%s parses and opens its entry of %s, and only that one", async (keyFile, vector) => {
    const ids = parseIdentityFile(readFileSync(join(VECTORS, keyFile), "utf8"), keyFile);
    expect(ids).toHaveLength(1);
    const set = await identitySetFrom(ids);
    const entries = ageEntries(vector);
    const mine = entries.filter((e) => e.recipient === set.recipients[0]);
    expect(mine).toHaveLength(1);
    for (const e of entries) {
      const key = await unwrapDataKey(e.enc, set);
      if (e.recipient !== set.recipients[0]) {
        expect(key).toBeUndefined();
        continue;
      }
      expect(key).toHaveLength(32);
      expect(macOf(vector, key as Uint8Array)).toMatch(/^[0-9A-F]{128}$/);
    }
  });

  it("reads the bare one-line key file without a final newline", () => {
    const text = readFileSync(join(VECTORS, "denis256-terragrunt-tests/keys.txt"), "utf8");
    expect(text.endsWith("\n")).toBe(false);
    expect(text.includes("\n")).toBe(false);
    expect(parseIdentityFile(text, "keys.txt")).toEqual([text]);
  });
});

describe("parseRecipients", () => {
  it("splits comma lists and arrays, trims, and drops empty entries and duplicates", async () => {
    const [a, b, c] = await Promise.all([generateAgeKey(), generateAgeKey(), generateAgeKey({ postQuantum: true })]);
    expect(parseRecipients(` ${a!.recipient} ,${b!.recipient},,${a!.recipient},`)).toEqual([a!.recipient, b!.recipient]);
    expect(parseRecipients([`${a!.recipient},${c!.recipient}`, ` ${b!.recipient} `])).toEqual([a!.recipient, c!.recipient, b!.recipient]);
    expect(parseRecipients("")).toEqual([]);
  });

  it.each([
    ["age1notakey", "bech32"],
    ["gpg:ABC", "does not start with age1"],
    ["age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t", "age plugin"],
    ["ssh-dss AAAAB3NzaC1kc3MAAACBAP", "SSH public key"],
    ["ssh-ed25519 AAAA", "SSH public key"],
  ])("refuses %j, naming it", (r, why) => {
    let err: unknown;
    try {
      parseRecipients(`age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw,${r}`);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "SOPS_INVALID_RECIPIENT", data: { recipient: r } });
    expect((err as Error).message).toContain(JSON.stringify(r));
    expect((err as Error).message).toContain(why);
  });

  it("refuses a private key given as a recipient without repeating it", () => {
    let err: unknown;
    try {
      parseRecipients("age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw,AGE-SECRET-KEY-1XYZ");
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "SOPS_INVALID_RECIPIENT" });
    expect(JSON.stringify(err) + (err as Error).message).not.toContain("AGE-SECRET-KEY-1XYZ");
    expect((err as Error).message).toMatch(/private/i);
  });

  it("refuses SSH key types age cannot encrypt to, and RSA keys under 2048 bits", () => {
    const dir = tempDir();
    execFileSync("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-f", join(dir, "ec")]);
    execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", join(dir, "small")]);
    const ec = readFileSync(join(dir, "ec.pub"), "utf8").trim();
    const small = readFileSync(join(dir, "small.pub"), "utf8").trim();
    expect(() => parseRecipients(ec)).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_RECIPIENT", message: expect.stringContaining("ssh-ed25519 and ssh-rsa") }));
    expect(() => parseRecipients(small)).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_RECIPIENT", message: expect.stringContaining("1024 bits") }));
  });
});

// age.ts checks age1… recipients and reads armor itself, so that reading an X25519 file never
// loads the age-encryption package (README "Start-up"); these hold it to that package's verdicts.
describe("the native recipient check and armor reader agree with age-encryption", () => {
  /** age-encryption's verdict: undefined when it takes the value, else its message. */
  const theirs = (f: () => unknown): string | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  };

  it("takes and refuses the same age1… recipients, with the same reason", async () => {
    const [x, pq] = await Promise.all([generateAgeKey(), generateAgeKey({ postQuantum: true })]);
    const flip = (r: string, at: number) => r.slice(0, at) + (r[at] === "q" ? "p" : "q") + r.slice(at + 1);
    const cases = [
      x.recipient,
      pq.recipient,
      flip(x.recipient, 20),
      flip(pq.recipient, 300),
      x.recipient.slice(0, -1),
      pq.recipient.slice(0, 200),
      `${x.recipient}q`,
      "age1notakey",
      "age1pq1notakey",
      "age1tag1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
      "age1tagpq1qqqq",
      "age1",
    ];
    for (const r of cases) {
      const want = theirs(() => new Encrypter().addRecipient(r));
      const got = theirs(() => parseRecipients(r));
      if (want === undefined) expect(got, r).toBeUndefined();
      else expect(got, r).toContain(`${want} (bad bech32 encoding or checksum)`);
    }
  });

  it("reads and refuses the same armored files, with the same reason", async () => {
    const { recipient } = await generateAgeKey();
    const enc = await wrapDataKey(new Uint8Array(32).fill(7), recipient);
    const lines = enc.trimEnd().split("\n");
    const cases = [
      enc,
      enc.replaceAll("\n", "\r\n"),
      `\n  ${enc}\n\n`,
      enc.replace("BEGIN AGE", "BEGIN OTHER"),
      enc.replace("END AGE", "END OTHER"),
      [lines[0], `${lines[1]}A`, ...lines.slice(2)].join("\n"),
      [lines[0], (lines[1] as string).slice(1), ...lines.slice(2)].join("\n"),
      [lines[0], `${(lines[1] as string).slice(0, 63)}!`, ...lines.slice(2)].join("\n"),
      [lines[0], lines.at(-1)].join("\n"),
      "",
    ];
    for (const c of cases) {
      const want = theirs(() => armor.decode(c));
      // stanzasOf goes on to read the header: only what the armor reader says is compared.
      const got = theirs(() => stanzasOf(c));
      if (want === undefined) expect(got ?? "", c).not.toContain("not a valid armored age file");
      else expect(got, c).toContain(`it is not a valid armored age file (${want})`);
    }
  });
});

describe("SSH recipients and identities (agessh, sops 3.10+)", () => {
  const dir = tempDir();
  let others = 0;
  const keygen = (name: string, ...args: string[]) => {
    execFileSync("ssh-keygen", ["-q", ...args, "-C", "someone@example", "-f", join(dir, name)]);
    return { pub: readFileSync(join(dir, `${name}.pub`), "utf8").trim(), priv: readFileSync(join(dir, name), "utf8"), path: join(dir, name) };
  };
  const kinds = {
    "ssh-ed25519 (OpenSSH format)": () => keygen("ed", "-t", "ed25519", "-N", ""),
    "ssh-rsa (OpenSSH format)": () => keygen("rsa", "-t", "rsa", "-b", "2048", "-N", ""),
    "ssh-rsa (PEM, PKCS#1)": () => keygen("rsapem", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", ""),
    "ssh-ed25519 (PKCS#8)": () => keygen("edpk8", "-t", "ed25519", "-m", "PKCS8", "-N", ""),
  };

  it.each(Object.keys(kinds))("%s: our enc opens with the age CLI, the age CLI's opens here", async (kind) => {
    const k = kinds[kind as keyof typeof kinds]();
    const enc = await wrapDataKey(dataKey(), k.pub);
    expect(stanzaLines(enc)[0]).toMatch(new RegExp(`^-> ${k.pub.split(" ")[0]} `));
    expect(new Uint8Array(execFileSync("age", ["-d", "-i", k.path], { input: enc }))).toEqual(dataKey());
    writeFileSync(join(dir, "recipients.txt"), `${k.pub}\n`);
    const byAge = execFileSync("age", ["-a", "-R", join(dir, "recipients.txt")], { input: Buffer.from(dataKey()) }).toString();
    const set = await identitySetFrom([k.priv]);
    expect(set.recipients).toEqual([k.pub.split(" ").slice(0, 2).join(" ")]);
    expect(await unwrapDataKey(byAge, set)).toEqual(dataKey());
    // Someone else's SSH key: the stanza's key tag does not match, nothing is tried.
    const other = keygen(`other${others++}`, "-t", "ed25519", "-N", "");
    expect(await unwrapDataKey(byAge, await identitySetFrom([other.priv]))).toBeUndefined();
  });

  it("refuses a passphrase-protected SSH key without prompting and without echoing it", () => {
    const k = keygen("locked", "-t", "ed25519", "-N", "correct horse");
    let err: unknown;
    try {
      parseSshIdentity(k.priv, k.path);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "SOPS_INVALID_IDENTITY" });
    expect((err as Error).message).toContain("passphrase-protected");
    expect((err as Error).message).toContain(k.path);
    expect((err as Error).message).not.toContain(k.priv.split("\n")[1]);
  });

  it("refuses an SSH key type age cannot use, and garbage in PEM clothing", () => {
    const ec = keygen("ec2", "-t", "ecdsa", "-N", "");
    expect(() => parseSshIdentity(ec.priv, "ec2")).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_IDENTITY", message: expect.stringContaining("ecdsa") }));
    expect(() => parseSshIdentity("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "junk")).toThrowError(
      expect.objectContaining({ code: "SOPS_INVALID_IDENTITY", message: expect.stringContaining("not a well-formed SSH private key") }),
    );
  });

  // Ed25519 keys that are not a point, or a point of small order, crafted byte by byte:
  // the age CLI refuses each (the first when parsing it, the others when wrapping to it).
  const P = 2n ** 255n - 19n;
  const edLine = (y: bigint, signBit = false) => {
    const raw = Buffer.alloc(32);
    for (let i = 0, v = y; i < 32; i++, v >>= 8n) raw[i] = Number(v & 0xffn);
    if (signBit) raw[31] = (raw[31] as number) | 0x80;
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    return `ssh-ed25519 ${Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]).toString("base64")}`;
  };
  const ageCliTakes = (recipient: string) => {
    try {
      execFileSync("age", ["-r", recipient], { input: "x", stdio: ["pipe", "ignore", "ignore"] });
      return true;
    } catch {
      return false;
    }
  };

  it.each([
    ["y = 2, not on the curve", edLine(2n), "not a point on the curve"],
    ["the identity (y = 1)", edLine(1n), "small order"],
    ["the identity with the sign bit set", edLine(1n, true), "small order"],
    ["y = 0, a point of order 4", edLine(0n), "small order"],
    ["y = -1, a point of order 2", edLine(P - 1n), "small order"],
  ])("refuses an ssh-ed25519 recipient that is %s, as the age CLI does", (_what, line, why) => {
    expect(ageCliTakes(line)).toBe(false);
    expect(() => parseRecipients(line)).toThrowError(expect.objectContaining({ code: "SOPS_INVALID_RECIPIENT", message: expect.stringContaining(why) }));
  });

  it("takes a non-canonical encoding of a point (y + p), as the age CLI does, with the same stanza tag", async () => {
    const line = edLine(3n + P);
    expect(ageCliTakes(line)).toBe(true);
    expect(parseRecipients(line)).toEqual([line]);
    const ours = stanzaLines(await wrapDataKey(dataKey(), line))[0]?.split(" ");
    const theirs = stanzaLines(execFileSync("age", ["-a", "-r", line], { input: Buffer.from(dataKey()) }).toString())[0]?.split(" ");
    expect(ours?.slice(0, 3)).toEqual(theirs?.slice(0, 3));
    expect(ours?.[2]).toMatch(/^[A-Za-z0-9+/]{6}$/);
  });
});
