import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";
import { armoredBlock, SshReader, sshMpint, sshString } from "./wire.js";

// OpenSSH keys, parsed in one place for every use boot-meta has for them: age recipients and
// identities (sops/age.ts, after filippo.io/age/agessh) and SSH signatures (sshsig.ts).
// Public keys are `type base64-blob [comment]` lines (sshd(8) AUTHORIZED_KEYS FILE FORMAT)
// whose blob is RFC 8709 (ssh-ed25519) or RFC 4253 §6.6 (ssh-rsa); private keys are OpenSSH's
// own `openssh-key-v1` (PROTOCOL.key), or the PKCS#1/PKCS#8 PEM that `ssh-keygen -m` writes.
// Only what is needed to use a key is checked here; what a key may be used *for* (age's
// 2048-bit RSA floor, the Ed25519 point check of agessh) is the caller's rule.

export type SshKeyType = "ssh-ed25519" | "ssh-rsa";

export interface SshEd25519PublicKey {
  readonly type: "ssh-ed25519";
  /** The key blob, as the base64 of a public key line holds it. */
  readonly wire: Buffer;
  /** The 32-byte Ed25519 public key (RFC 8032 encoding). */
  readonly key: Buffer;
}

export interface SshRsaPublicKey {
  readonly type: "ssh-rsa";
  /** The key blob, as the base64 of a public key line holds it. */
  readonly wire: Buffer;
  /** Public exponent and modulus, unsigned big-endian without leading zeros. */
  readonly e: Buffer;
  readonly n: Buffer;
  /** The modulus's length in bits. */
  readonly bits: number;
}

export type SshPublicKey = SshEd25519PublicKey | SshRsaPublicKey;

export type SshPrivateKey =
  | { readonly type: "ssh-ed25519"; readonly publicKey: SshEd25519PublicKey; /** RFC 8032 secret key */ readonly seed: Buffer; readonly privateKey: KeyObject }
  | { readonly type: "ssh-rsa"; readonly publicKey: SshRsaPublicKey; readonly privateKey: KeyObject };

/** Why a key was refused: callers that speak for a format of their own map these to their codes. */
export type SshKeyProblem = "malformed" | "unsupported-type" | "passphrase-protected" | "several-keys";

/**
 * An SSH key boot-meta cannot read. `why` is the reason as a clause ("it is truncated"),
 * without the key's name, for callers that word their own message; `keyType` is set when the
 * key is of a type other than ssh-ed25519 and ssh-rsa. Never carries any key material.
 */
export class SshKeyError extends BootMetaError {
  readonly problem: SshKeyProblem;
  readonly why: string;
  readonly keyType: string | undefined;

  constructor(what: string, problem: SshKeyProblem, why: string, keyType?: string) {
    super("SSH_KEY_INVALID", `${what} is not a usable SSH key: ${why}`, ExitCode.InvalidArgument, {
      data: { what, problem, ...(keyType === undefined ? {} : { keyType }) },
      suggestions: SUGGESTIONS[problem],
    });
    this.problem = problem;
    this.why = why;
    this.keyType = keyType;
  }
}

const SUGGESTIONS: Record<SshKeyProblem, string[]> = {
  malformed: ["a public key is one line `ssh-ed25519 AAAA… comment` as ssh-keygen writes it to the .pub file; a private key is the whole file ssh-keygen wrote, BEGIN and END lines included"],
  "unsupported-type": ["make an ssh-ed25519 key: ssh-keygen -t ed25519"],
  "passphrase-protected": ["nothing here may prompt for a passphrase: use a copy of the key without one (ssh-keygen -p -N '' -f COPY), kept where only its user can read it"],
  "several-keys": ["keep one key per file, as ssh-keygen writes them"],
};

const SUPPORTED = "boot-meta reads ssh-ed25519 and ssh-rsa keys";

/** A key type named in the input, fit to quote in a message (it is attacker-chosen text). */
const quotable = (t: string): string => (/^[A-Za-z0-9@._+-]{1,64}$/.test(t) ? t : "unknown");

const isSupported = (t: string): t is SshKeyType => t === "ssh-ed25519" || t === "ssh-rsa";

function unsupported(what: string, type: string): SshKeyError {
  const t = quotable(type);
  return new SshKeyError(what, "unsupported-type", `it is ${/^[aeiou]/i.test(t) ? "an" : "a"} ${t} key; ${SUPPORTED}`, t);
}

const bitLength = (unsigned: Buffer): number => (unsigned.length ? (unsigned.length - 1) * 8 + (32 - Math.clz32(unsigned[0] as number)) : 0);

/** Parses a key blob (the decoded base64 of a public key line). Throws {@link SshKeyError}. */
export function parsePublicKeyWire(wire: Uint8Array, what = "the SSH public key"): SshPublicKey {
  const r = new SshReader(wire, (why) => new SshKeyError(what, "malformed", why));
  const type = r.string().toString("latin1");
  if (!isSupported(type)) throw unsupported(what, type);
  const blob = Buffer.from(wire);
  if (type === "ssh-ed25519") {
    const key = r.string();
    if (key.length !== 32) throw new SshKeyError(what, "malformed", `its Ed25519 key is ${key.length} bytes, not 32`);
    if (!r.done) throw new SshKeyError(what, "malformed", "it has bytes after the key");
    return { type, wire: blob, key: Buffer.from(key) };
  }
  const e = r.mpint();
  const n = r.mpint();
  if (!r.done) throw new SshKeyError(what, "malformed", "it has bytes after the key");
  if (!e.length || !n.length) throw new SshKeyError(what, "malformed", "its RSA exponent or modulus is zero");
  return { type, wire: blob, e: Buffer.from(e), n: Buffer.from(n), bits: bitLength(n) };
}

/**
 * Parses a public key line, `ssh-ed25519 AAAA… comment` (a .pub file's line; the comment is
 * dropped). Throws {@link SshKeyError}: `unsupported-type` for any other key type (ecdsa,
 * sk-…, ssh-dss), `malformed` for everything else that is not such a line.
 */
export function parsePublicKeyLine(line: string, what = "the SSH public key"): SshPublicKey {
  const [type = "", b64 = ""] = line.trim().split(/\s+/);
  if (!/^[a-z0-9@.-]+$/.test(type) || !b64) throw new SshKeyError(what, "malformed", "it is not a public key line (`type base64-key [comment]`)");
  if (!isSupported(type)) throw unsupported(what, type);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new SshKeyError(what, "malformed", "its key is not base64");
  const key = parsePublicKeyWire(Buffer.from(b64, "base64"), what);
  if (key.type !== type) throw new SshKeyError(what, "malformed", `the line says ${type} but its key is ${key.type}`);
  return key;
}

/** The key as a public key line without a comment: `ssh-ed25519 AAAA…`. */
export function publicKeyLine(k: SshPublicKey): string {
  return `${k.type} ${k.wire.toString("base64")}`;
}

/** The public key of a raw 32-byte Ed25519 key. Throws {@link SshKeyError} when it is not 32 bytes. */
export function ed25519PublicKey(raw: Uint8Array): SshEd25519PublicKey {
  return parsePublicKeyWire(Buffer.concat([sshString("ssh-ed25519"), sshString(raw)]), "the Ed25519 key") as SshEd25519PublicKey;
}

/** The key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of its blob's SHA-256. */
export function sshFingerprint(k: SshPublicKey): string {
  return `SHA256:${createHash("sha256").update(k.wire).digest("base64").replace(/=+$/, "")}`;
}

// DER prefixes that wrap a raw Ed25519 key into SPKI / PKCS#8 (RFC 8410), for node:crypto.
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");

/** The key for node:crypto (`verify`, `publicEncrypt`). Throws {@link SshKeyError} if Node refuses it. */
export function publicKeyObject(k: SshPublicKey, what = "the SSH public key"): KeyObject {
  try {
    if (k.type === "ssh-ed25519") return createPublicKey({ key: Buffer.concat([SPKI_ED25519, k.key]), format: "der", type: "spki" });
    return createPublicKey({ key: { kty: "RSA", n: k.n.toString("base64url"), e: k.e.toString("base64url") }, format: "jwk" });
  } catch {
    throw new SshKeyError(what, "malformed", `its ${k.type} key is not a valid key`);
  }
}

const SSH_PRIVATE_PEM = /-----BEGIN ([A-Z0-9]+ )?PRIVATE KEY-----/;

/** Whether `text` looks like an SSH private key file (OpenSSH or PEM): a cheap test, not a parse. */
export function isSshPrivateKey(text: string): boolean {
  return SSH_PRIVATE_PEM.test(text.slice(0, 200));
}

const MAGIC = Buffer.from("openssh-key-v1\0");

/**
 * Parses an unencrypted SSH private key file: OpenSSH's `openssh-key-v1` (what ssh-keygen
 * writes by default), or PKCS#1 / PKCS#8 PEM (`ssh-keygen -m PEM|PKCS8`), ssh-ed25519 or
 * ssh-rsa. Throws {@link SshKeyError} naming `what`: `passphrase-protected` (nothing here
 * may prompt), `unsupported-type`, `several-keys`, or `malformed`.
 */
export function parsePrivateKey(text: string, what = "the SSH private key"): SshPrivateKey {
  if (text.includes("-----BEGIN OPENSSH PRIVATE KEY-----")) return parseOpenSsh(text, what);
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) throw new SshKeyError(what, "passphrase-protected", "it is passphrase-protected");
  if (SSH_PRIVATE_PEM.test(text)) return parsePem(text, what);
  throw new SshKeyError(what, "malformed", "it is not an SSH private key (no -----BEGIN OPENSSH PRIVATE KEY----- block)");
}

function parseOpenSsh(text: string, what: string): SshPrivateKey {
  const malformed = (why: string) => new SshKeyError(what, "malformed", why);
  const buf = armoredBlock(text, "OPENSSH PRIVATE KEY");
  if (!buf) throw malformed("its OPENSSH PRIVATE KEY block is incomplete or not base64");
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw malformed("it is not an openssh-key-v1 key");
  const r = new SshReader(buf, malformed);
  r.skip(MAGIC.length);
  const cipher = r.string().toString("latin1");
  r.string(); // kdf name
  r.string(); // kdf options
  if (cipher !== "none") throw new SshKeyError(what, "passphrase-protected", "it is passphrase-protected");
  const count = r.uint32();
  if (count !== 1) throw count === 0 ? malformed("it holds no key") : new SshKeyError(what, "several-keys", `it holds ${count} keys`);
  const publicKey = parsePublicKeyWire(r.string(), what);
  const p = new SshReader(r.string(), malformed);
  if (!r.done) throw malformed("it has bytes after its keys");
  // Two equal check words open the private part; they differ when it was decrypted with a
  // wrong passphrase, and in an unencrypted file only when it is damaged.
  if (p.uint32() !== p.uint32()) throw malformed("its check bytes differ (it is damaged)");
  const type = p.string().toString("latin1");
  if (type !== publicKey.type) throw malformed(`its private part is ${quotable(type)} but its public part is ${publicKey.type}`);
  let key: SshPrivateKey;
  if (publicKey.type === "ssh-ed25519") {
    const pub = p.string();
    // The secret is seed ‖ public key (the 64-byte form of crypto/ed25519 and libsodium).
    const secret = p.string();
    if (!pub.equals(publicKey.key) || secret.length !== 64 || !secret.subarray(32).equals(pub)) throw malformed("its Ed25519 private part does not match its public key");
    const seed = Buffer.from(secret.subarray(0, 32));
    key = { type: "ssh-ed25519", publicKey, seed, privateKey: ed25519PrivateKeyObject(seed, what) };
  } else {
    const [n, e, d, iqmp, q1, q2] = [p.mpint(), p.mpint(), p.mpint(), p.mpint(), p.mpint(), p.mpint()];
    if (!n.equals(publicKey.n) || !e.equals(publicKey.e)) throw malformed("its RSA private part does not match its public key");
    key = { type: "ssh-rsa", publicKey, privateKey: rsaPrivateKeyObject({ n, e, d, iqmp, p: q1, q: q2 }, what) };
  }
  p.string(); // comment
  // Then padding 1, 2, 3, … to the cipher's block size.
  if (p.rest().some((b, i) => b !== i + 1)) throw malformed("its padding is not as OpenSSH writes it (it is damaged)");
  return key;
}

function ed25519PrivateKeyObject(seed: Buffer, what: string): KeyObject {
  try {
    return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" });
  } catch {
    throw new SshKeyError(what, "malformed", "its Ed25519 private key is not valid");
  }
}

function rsaPrivateKeyObject(k: Record<"n" | "e" | "d" | "iqmp" | "p" | "q", Buffer>, what: string): KeyObject {
  const big = (b: Buffer) => BigInt(`0x${b.toString("hex") || "0"}`);
  const b64 = (x: bigint) => {
    const hex = x.toString(16);
    return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex").toString("base64url");
  };
  try {
    // OpenSSH stores n, e, d, iqmp, p, q; a JWK also wants the CRT exponents d mod (p-1), d mod (q-1).
    const [d, p, q] = [big(k.d), big(k.p), big(k.q)];
    if (p < 2n || q < 2n) throw new Error("bad primes");
    const jwk = { kty: "RSA", n: k.n.toString("base64url"), e: k.e.toString("base64url"), d: k.d.toString("base64url"), p: k.p.toString("base64url"), q: k.q.toString("base64url"), dp: b64(d % (p - 1n)), dq: b64(d % (q - 1n)), qi: k.iqmp.toString("base64url") };
    return createPrivateKey({ key: jwk, format: "jwk" });
  } catch {
    throw new SshKeyError(what, "malformed", "its RSA private key is not valid");
  }
}

function parsePem(text: string, what: string): SshPrivateKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: "pem" });
  } catch {
    throw new SshKeyError(what, "malformed", "its PEM block is not a private key node:crypto can read");
  }
  const jwk = key.export({ format: "jwk" });
  if (key.asymmetricKeyType === "ed25519") {
    const seed = Buffer.from(jwk.d ?? "", "base64url");
    return { type: "ssh-ed25519", publicKey: ed25519PublicKey(Buffer.from(jwk.x ?? "", "base64url")), seed, privateKey: key };
  }
  if (key.asymmetricKeyType === "rsa") {
    const wire = Buffer.concat([sshString("ssh-rsa"), sshMpint(Buffer.from(jwk.e ?? "", "base64url")), sshMpint(Buffer.from(jwk.n ?? "", "base64url"))]);
    return { type: "ssh-rsa", publicKey: parsePublicKeyWire(wire, what) as SshRsaPublicKey, privateKey: key };
  }
  throw unsupported(what, key.asymmetricKeyType ?? "unknown");
}
