import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";

// The SSH signature format (OpenSSH PROTOCOL.sshsig) for ed25519 keys, so that a stock
// `ssh-keygen -Y verify` checks what boot-meta signs and boot-meta checks what ssh-keygen
// signs. Hash sha512; the namespace keeps a signature for boot-meta from being replayed
// elsewhere.
export const NAMESPACE = "boot-meta";
const MAGIC = Buffer.from("SSHSIG");
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const sshString = (b: Buffer | string) => {
  const buf = typeof b === "string" ? Buffer.from(b) : b;
  return Buffer.concat([u32(buf.length), buf]);
};

class Reader {
  off = 0;
  readonly b: Buffer;
  constructor(b: Buffer) {
    this.b = b;
  }
  u32(): number {
    if (this.off + 4 > this.b.length) throw bad("truncated");
    const v = this.b.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  string(): Buffer {
    const n = this.u32();
    if (this.off + n > this.b.length) throw bad("truncated");
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
}

function bad(why: string): BootMetaError {
  return new BootMetaError("SIGNATURE_INVALID", `the signature or key is malformed: ${why}`, ExitCode.InvalidFormat);
}

function armor(b: Buffer, label: string): string {
  const body = b.toString("base64").replace(/.{1,70}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

function unarmor(text: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(text);
  if (!m) throw bad(`no ${label} block`);
  return Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64");
}

export interface SshSigningKey {
  key: KeyObject;
  /** 32-byte raw public key */
  publicKey: Buffer;
  /** "ssh-ed25519 AAAA…" */
  publicLine: string;
}

/** Reads an unencrypted OpenSSH ed25519 private key (`ssh-keygen -t ed25519 -N ""`). */
export function parseOpenSshPrivateKey(text: string, where = "the key file"): SshSigningKey {
  let blob: Buffer;
  try {
    blob = unarmor(text, "OPENSSH PRIVATE KEY");
  } catch {
    throw new BootMetaError("SIGNING_KEY_INVALID", `${where} is not an OpenSSH private key`, ExitCode.InvalidArgument, { suggestions: ["make one with: ssh-keygen -t ed25519 -N '' -f signing-key"] });
  }
  const magic = Buffer.from("openssh-key-v1\0");
  if (!blob.subarray(0, magic.length).equals(magic)) throw new BootMetaError("SIGNING_KEY_INVALID", `${where} is not an openssh-key-v1 file`, ExitCode.InvalidArgument);
  const r = new Reader(blob.subarray(magic.length));
  const cipher = r.string().toString();
  r.string(); // kdf name
  r.string(); // kdf options
  if (cipher !== "none") throw new BootMetaError("SIGNING_KEY_INVALID", `${where} is passphrase-protected; boot-meta needs an unencrypted signing key (keep it in your CI's secret store)`, ExitCode.InvalidArgument);
  if (r.u32() !== 1) throw new BootMetaError("SIGNING_KEY_INVALID", `${where} holds several keys`, ExitCode.InvalidArgument);
  r.string(); // public key blob
  const priv = new Reader(r.string());
  if (priv.u32() !== priv.u32()) throw new BootMetaError("SIGNING_KEY_INVALID", `${where} is damaged (check bytes differ)`, ExitCode.InvalidArgument);
  const type = priv.string().toString();
  if (type !== "ssh-ed25519") throw new BootMetaError("SIGNING_KEY_INVALID", `${where} is a ${type} key; boot-meta signs with ed25519 keys`, ExitCode.InvalidArgument);
  const pub = Buffer.from(priv.string());
  const secret = priv.string();
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, secret.subarray(0, 32)]), format: "der", type: "pkcs8" });
  return { key, publicKey: pub, publicLine: `ssh-ed25519 ${Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]).toString("base64")}` };
}

/**
 * What is signed is a hash of the message, so a large file need not be in memory: pass its
 * digests (computed while streaming it) instead of its bytes.
 */
export interface Digests {
  sha256: Buffer;
  sha512: Buffer;
}

const hashOf = (alg: "sha256" | "sha512", message: Buffer | Digests): Buffer => (Buffer.isBuffer(message) ? createHash(alg).update(message).digest() : message[alg]);

function signedData(namespace: string, message: Buffer | Digests): Buffer {
  const hash = hashOf("sha512", message);
  return Buffer.concat([MAGIC, sshString(namespace), sshString(""), sshString("sha512"), sshString(hash)]);
}

/** An armored SSH signature of `message` (what `ssh-keygen -Y sign -n boot-meta` writes). */
export function sshSign(k: SshSigningKey, message: Buffer | Digests, namespace = NAMESPACE): string {
  const sig = sign(null, signedData(namespace, message), k.key);
  const pubBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(k.publicKey)]);
  const blob = Buffer.concat([MAGIC, u32(1), sshString(pubBlob), sshString(namespace), sshString(""), sshString("sha512"), sshString(Buffer.concat([sshString("ssh-ed25519"), sshString(sig)]))]);
  return armor(blob, "SSH SIGNATURE");
}

/** Parses an `ssh-ed25519 AAAA… comment` line into its raw key. */
export function parseSshPublicKey(line: string): Buffer {
  const [type, b64] = line.trim().split(/\s+/);
  if (type !== "ssh-ed25519" || !b64) throw bad("only ssh-ed25519 public keys are supported");
  const r = new Reader(Buffer.from(b64, "base64"));
  if (r.string().toString() !== "ssh-ed25519") throw bad("key type mismatch");
  const pk = r.string();
  if (pk.length !== 32) throw bad("ed25519 keys are 32 bytes");
  return Buffer.from(pk);
}

/** An ed25519 public key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of its blob's sha256. */
export function sshFingerprint(publicKey: Buffer): string {
  const blob = Buffer.concat([sshString("ssh-ed25519"), sshString(publicKey)]);
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Checks an armored SSH signature over `message`; returns the signer's raw public key when valid. */
export function sshVerify(signature: string, message: Buffer | Digests, namespace = NAMESPACE): { valid: boolean; publicKey: Buffer } {
  const r = new Reader(unarmor(signature, "SSH SIGNATURE"));
  if (!r.b.subarray(0, 6).equals(MAGIC)) throw bad("not an SSHSIG blob");
  r.off = 6;
  if (r.u32() !== 1) throw bad("unsupported SSHSIG version");
  const pub = new Reader(r.string());
  if (pub.string().toString() !== "ssh-ed25519") throw bad("only ed25519 signatures are supported");
  const publicKey = Buffer.from(pub.string());
  const ns = r.string().toString();
  r.string(); // reserved
  const hashAlg = r.string().toString();
  const sig = new Reader(r.string());
  if (sig.string().toString() !== "ssh-ed25519") throw bad("signature type mismatch");
  const raw = sig.string();
  if (ns !== namespace || (hashAlg !== "sha512" && hashAlg !== "sha256")) return { valid: false, publicKey };
  const hash = hashOf(hashAlg, message);
  const data = Buffer.concat([MAGIC, sshString(ns), sshString(""), sshString(hashAlg), sshString(hash)]);
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: "der", type: "spki" });
  return { valid: verify(null, data, key, raw), publicKey };
}
