import { execFileSync } from "node:child_process";
import { createPublicKey, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { isSshPrivateKey, parsePrivateKey, parsePublicKeyLine, parsePublicKeyWire, publicKeyLine, publicKeyObject, SshKeyError, type SshKeyProblem, sshFingerprint } from "../../src/ssh/keys.js";
import { SshReader, sshMpint, sshString } from "../../src/ssh/wire.js";
import { tempDir } from "../helpers/gitdir.js";

const runs = process.env.SLOW ? 500 : 40;
const dir = tempDir();
let n = 0;

/** A key pair from the real ssh-keygen: the private key file's text and its .pub line. */
function keygen(...args: string[]): { priv: string; pub: string; path: string } {
  const path = join(dir, `k${n++}`);
  execFileSync("ssh-keygen", ["-q", "-C", "someone@example", "-f", path, ...args]);
  return { priv: readFileSync(path, "utf8"), pub: readFileSync(`${path}.pub`, "utf8").trim(), path };
}

const ed = keygen("-t", "ed25519", "-N", "");
const rsa = keygen("-t", "rsa", "-b", "2048", "-N", "");

/** Runs `f`, expecting an SshKeyError; returns it. */
function refusal(f: () => unknown): SshKeyError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SshKeyError);
    return e as SshKeyError;
  }
  throw new Error("expected an SshKeyError, got a result");
}

/** Parses, or refuses with an SshKeyError: anything else (a TypeError, a RangeError) fails the test. */
function parsesOrRefuses(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof SshKeyError)) throw e;
    expect(e.code).toBe("SSH_KEY_INVALID");
  }
}

const openSshBody = (text: string): Buffer => Buffer.from(text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
const openSshText = (body: Uint8Array): string => `-----BEGIN OPENSSH PRIVATE KEY-----\n${Buffer.from(body).toString("base64").replace(/.{1,70}/g, "$&\n")}-----END OPENSSH PRIVATE KEY-----\n`;

describe("parsePublicKeyLine", () => {
  it.each([
    ["ssh-ed25519", ed],
    ["ssh-rsa", rsa],
  ])("reads the %s line ssh-keygen writes, with the fingerprint `ssh-keygen -l` prints", (type, k) => {
    const key = parsePublicKeyLine(`  ${k.pub}\n`);
    expect(key.type).toBe(type);
    expect(publicKeyLine(key)).toBe(k.pub.split(" ").slice(0, 2).join(" "));
    expect(sshFingerprint(key)).toBe(execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${k.path}.pub`]).toString().split(" ")[1]);
    if (key.type === "ssh-rsa") expect(key.bits).toBe(2048);
    else expect(key.key).toHaveLength(32);
  });

  const blob = (...parts: Buffer[]) => Buffer.concat(parts).toString("base64");
  const edBlob = Buffer.from(ed.pub.split(" ")[1] as string, "base64");
  const rsaBlob = Buffer.from(rsa.pub.split(" ")[1] as string, "base64");
  it.each<[string, string, SshKeyProblem, string]>([
    ["an empty line", "", "malformed", "not a public key line"],
    ["a type without a key", "ssh-ed25519", "malformed", "not a public key line"],
    ["a key that is not base64", "ssh-ed25519 AAAA!!!!", "malformed", "not base64"],
    ["a truncated key", "ssh-ed25519 AAAA", "malformed", "truncated"],
    ["an ed25519 key of 31 bytes", `ssh-ed25519 ${blob(sshString("ssh-ed25519"), sshString(Buffer.alloc(31, 1)))}`, "malformed", "31 bytes, not 32"],
    ["bytes after the key", `ssh-ed25519 ${blob(edBlob, Buffer.from([0]))}`, "malformed", "bytes after the key"],
    ["a line whose type is not its key's", `ssh-ed25519 ${rsaBlob.toString("base64")}`, "malformed", "says ssh-ed25519 but its key is ssh-rsa"],
    ["an RSA key with a negative modulus", `ssh-rsa ${blob(sshString("ssh-rsa"), sshMpint(Buffer.from([1, 0, 1])), sshString(Buffer.from([0x80, 1])))}`, "malformed", "negative"],
    ["an RSA key with a zero exponent", `ssh-rsa ${blob(sshString("ssh-rsa"), sshString(Buffer.alloc(0)), sshMpint(Buffer.alloc(256, 0xff)))}`, "malformed", "zero"],
    ["a DSA key", "ssh-dss AAAAB3NzaC1kc3MAAACBAP", "unsupported-type", "ssh-dss"],
    ["a security-key type", "sk-ssh-ed25519@openssh.com AAAA", "unsupported-type", "sk-ssh-ed25519@openssh.com"],
  ])("refuses %s with a typed error naming the key", (_what, line, problem, why) => {
    const e = refusal(() => parsePublicKeyLine(line, "keys/alice.txt line 2"));
    expect(e).toMatchObject({ code: "SSH_KEY_INVALID", problem, data: { what: "keys/alice.txt line 2", problem } });
    expect(e.message).toContain("keys/alice.txt line 2");
    expect(e.message).toContain(why);
  });

  it("refuses an ECDSA key line from ssh-keygen, saying its type", () => {
    const ec = keygen("-t", "ecdsa", "-N", "");
    const e = refusal(() => parsePublicKeyLine(ec.pub));
    expect(e).toMatchObject({ problem: "unsupported-type", keyType: "ecdsa-sha2-nistp256" });
    expect(e.message).toContain("ssh-ed25519 and ssh-rsa");
  });

  it("does not quote a key type that is not plain text", () => {
    const e = refusal(() => parsePublicKeyWire(sshString(Buffer.from("\u001b[31mx\n"))));
    expect(e.keyType).toBe("unknown");
    expect(e.message).not.toContain("\u001b");
  });

  test.prop([fc.nat(), fc.integer({ min: 1, max: 255 })], { numRuns: runs })("a damaged key blob parses or is refused, never a crash", (at, xor) => {
    for (const good of [edBlob, rsaBlob]) {
      const i = at % good.length;
      const flipped = Buffer.from(good);
      flipped[i] = (flipped[i] as number) ^ xor;
      parsesOrRefuses(() => parsePublicKeyWire(flipped));
      parsesOrRefuses(() => parsePublicKeyWire(good.subarray(0, i)));
    }
  });

  test.prop([fc.string({ maxLength: 120 })], { numRuns: runs })("any text parses or is refused, never a crash", (text) => {
    parsesOrRefuses(() => parsePublicKeyLine(text));
    parsesOrRefuses(() => parsePublicKeyLine(`ssh-ed25519 ${Buffer.from(text).toString("base64")}`));
    parsesOrRefuses(() => parsePrivateKey(text));
  });
});

describe("parsePrivateKey", () => {
  const kinds = {
    "ssh-ed25519, OpenSSH format": () => ed,
    "ssh-rsa, OpenSSH format": () => rsa,
    "ssh-rsa, PEM (PKCS#1)": () => keygen("-t", "rsa", "-b", "2048", "-m", "PEM", "-N", ""),
    "ssh-ed25519, PKCS#8": () => keygen("-t", "ed25519", "-m", "PKCS8", "-N", ""),
  };

  it.each(Object.keys(kinds))("reads %s: its public key is the .pub file's and its private key signs for it", (kind) => {
    const k = kinds[kind as keyof typeof kinds]();
    expect(isSshPrivateKey(k.priv)).toBe(true);
    const key = parsePrivateKey(k.priv);
    expect(publicKeyLine(key.publicKey)).toBe(k.pub.split(" ").slice(0, 2).join(" "));
    const message = Buffer.from("what a signing key is for");
    const alg = key.type === "ssh-rsa" ? "sha256" : null;
    expect(verify(alg, message, publicKeyObject(key.publicKey), sign(alg, message, key.privateKey))).toBe(true);
    if (key.type === "ssh-ed25519") {
      expect(key.seed).toHaveLength(32);
      expect(createPublicKey(key.privateKey).export({ format: "jwk" }).x).toBe(key.publicKey.key.toString("base64url"));
    }
  });

  it.each([
    ["OpenSSH", ["-t", "ed25519"]],
    ["PEM", ["-t", "rsa", "-b", "2048", "-m", "PEM"]],
    ["PKCS#8", ["-t", "rsa", "-b", "2048", "-m", "PKCS8"]],
  ])("refuses a passphrase-protected %s key without a byte of it in the message", (_format, args) => {
    const k = keygen(...args, "-N", "correct horse battery");
    expect(isSshPrivateKey(k.priv)).toBe(true);
    const e = refusal(() => parsePrivateKey(k.priv, k.path));
    expect(e).toMatchObject({ code: "SSH_KEY_INVALID", problem: "passphrase-protected" });
    expect(e.message).toContain(k.path);
    for (const line of k.priv.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"))) expect(JSON.stringify(e.toJSON())).not.toContain(line.slice(0, 16));
  });

  it("refuses ECDSA keys in both formats, saying their type", () => {
    expect(refusal(() => parsePrivateKey(keygen("-t", "ecdsa", "-N", "").priv))).toMatchObject({ problem: "unsupported-type", keyType: "ecdsa-sha2-nistp256" });
    expect(refusal(() => parsePrivateKey(keygen("-t", "ecdsa", "-m", "PEM", "-N", "").priv))).toMatchObject({ problem: "unsupported-type", keyType: "ec" });
  });

  // The openssh-key-v1 layout (PROTOCOL.key): magic, cipher "none", kdf "none", kdf options "",
  // the number of keys, the public key, then the private section.
  const body = openSshBody(ed.priv);
  const COUNT = 15 + 8 + 8 + 4;
  const pubLen = body.readUInt32BE(COUNT + 4);
  const PRIVATE = COUNT + 4 + 4 + pubLen + 4;
  const patched = (at: number, bytes: Buffer) => {
    const b = Buffer.from(body);
    bytes.copy(b, at);
    return openSshText(b);
  };
  const other = openSshBody(keygen("-t", "ed25519", "-N", "").priv);

  it.each<[string, () => string, SshKeyProblem, string]>([
    ["text with no key in it", () => "hello", "malformed", "not an SSH private key"],
    ["a BEGIN line without its END", () => ed.priv.replace(/-----END[^]*/, ""), "malformed", "incomplete"],
    ["a body that is not base64", () => "-----BEGIN OPENSSH PRIVATE KEY-----\n%%%%\n-----END OPENSSH PRIVATE KEY-----\n", "malformed", "not base64"],
    ["another magic", () => "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "malformed", "not an openssh-key-v1"],
    ["a truncated body", () => openSshText(body.subarray(0, PRIVATE + 20)), "malformed", "truncated"],
    ["no key", () => patched(COUNT, Buffer.from([0, 0, 0, 0])), "malformed", "no key"],
    ["two keys", () => patched(COUNT, Buffer.from([0, 0, 0, 2])), "several-keys", "2 keys"],
    ["check words that differ", () => patched(PRIVATE, Buffer.from([0xde, 0xad, 0xbe, 0xef])), "malformed", "check bytes differ"],
    ["a public part of another key", () => patched(COUNT + 8, other.subarray(COUNT + 8, COUNT + 4 + 4 + pubLen)), "malformed", "does not match its public key"],
    ["damaged padding", () => patched(body.length - 1, Buffer.from([0x7f])), "malformed", "padding"],
    ["garbage in PEM clothing", () => "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "malformed", "PEM"],
  ])("refuses %s with a typed error", (_what, text, problem, why) => {
    const e = refusal(() => parsePrivateKey(text(), "~/.ssh/id_ed25519"));
    expect(e).toMatchObject({ code: "SSH_KEY_INVALID", problem, data: { what: "~/.ssh/id_ed25519" } });
    expect(e.message).toContain("~/.ssh/id_ed25519");
    expect(e.message).toContain(why);
  });

  it("every single-byte change and every truncation of an OpenSSH ed25519 key parses or is refused, never a crash", () => {
    for (let i = 0; i < body.length; i++) {
      const b = Buffer.from(body);
      b[i] = (b[i] as number) ^ 0xff;
      parsesOrRefuses(() => parsePrivateKey(openSshText(b)));
      parsesOrRefuses(() => parsePrivateKey(openSshText(body.subarray(0, i))));
    }
  });

  const rsaBody = openSshBody(rsa.priv);
  test.prop([fc.nat(), fc.integer({ min: 1, max: 255 })], { numRuns: runs })("a damaged OpenSSH RSA key parses or is refused, never a crash", (at, xor) => {
    const b = Buffer.from(rsaBody);
    const i = at % b.length;
    b[i] = (b[i] as number) ^ xor;
    parsesOrRefuses(() => parsePrivateKey(openSshText(b)));
  });
});

describe("SshReader", () => {
  it("reports a read past the end, or a negative mpint, through the format's own error", () => {
    const fail = (why: string) => new RangeError(`custom: ${why}`);
    expect(() => new SshReader(Buffer.from([0, 0, 0, 9, 1]), fail).string()).toThrowError("custom: it is truncated");
    expect(() => new SshReader(Buffer.from([0, 0]), fail).uint32()).toThrowError("custom: it is truncated");
    expect(() => new SshReader(sshString(Buffer.from([0x80])), fail).mpint()).toThrowError("custom: it holds a negative number");
    const r = new SshReader(Buffer.concat([sshString("ab"), sshMpint(Buffer.from([0, 0, 0x80]))]), fail);
    expect(r.string().toString()).toBe("ab");
    expect([...r.mpint()]).toEqual([0x80]);
    expect(r.done).toBe(true);
  });
});
