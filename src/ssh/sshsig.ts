import { createHash, type KeyObject, sign, verify } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";
import { ed25519PublicKey, parsePrivateKey, parsePublicKeyLine, parsePublicKeyWire, publicKeyLine, publicKeyObject, SshKeyError, sshFingerprint as fingerprintOf, type SshKeyProblem, type SshPrivateKey, type SshPublicKey } from "./keys.js";
import { armoredBlock, SshReader, sshString, sshUint32 } from "./wire.js";

// The SSH signature format (OpenSSH PROTOCOL.sshsig) for ed25519 keys, so that a stock
// `ssh-keygen -Y verify` checks what boot-meta signs and boot-meta checks what ssh-keygen
// signs. Hash sha512; the namespace keeps a signature for boot-meta from being replayed
// elsewhere. The keys are read by ssh/keys.ts.
export const NAMESPACE = "boot-meta";
const MAGIC = Buffer.from("SSHSIG");

function bad(why: string): BootMetaError {
  return new BootMetaError("SIGNATURE_INVALID", `the signature or key is malformed: ${why}`, ExitCode.InvalidFormat);
}

function armor(b: Buffer, label: string): string {
  const body = b.toString("base64").replace(/.{1,70}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

export interface SshSigningKey {
  key: KeyObject;
  /** 32-byte raw public key */
  publicKey: Buffer;
  /** "ssh-ed25519 AAAA…" */
  publicLine: string;
}

const SIGNING_KEY_HINTS: Partial<Record<SshKeyProblem, string>> = {
  "passphrase-protected": "is passphrase-protected; boot-meta needs an unencrypted signing key (keep it in your CI's secret store)",
  "several-keys": "holds several keys",
};

/**
 * Reads an unencrypted ed25519 private key: OpenSSH's own format (`ssh-keygen -t ed25519 -N ""`)
 * or PKCS#8 PEM. Throws `SIGNING_KEY_INVALID` naming `where`. */
export function parseOpenSshPrivateKey(text: string, where = "the key file"): SshSigningKey {
  const invalid = (what: string) =>
    new BootMetaError("SIGNING_KEY_INVALID", `${where} ${what}`, ExitCode.InvalidArgument, { data: { file: where }, suggestions: ["make one with: ssh-keygen -t ed25519 -N '' -f signing-key"] });
  let k: SshPrivateKey;
  try {
    k = parsePrivateKey(text, where);
  } catch (e) {
    if (!(e instanceof SshKeyError)) throw e;
    if (e.problem === "unsupported-type") throw invalid(`is a key of type ${e.keyType}; boot-meta signs with ed25519 keys`);
    throw invalid(SIGNING_KEY_HINTS[e.problem] ?? `is not a usable signing key: ${e.why}`);
  }
  if (k.type !== "ssh-ed25519") throw invalid(`is a key of type ${k.type}; boot-meta signs with ed25519 keys`);
  return { key: k.privateKey, publicKey: k.publicKey.key, publicLine: publicKeyLine(k.publicKey) };
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
  const blob = Buffer.concat([MAGIC, sshUint32(1), sshString(ed25519PublicKey(k.publicKey).wire), sshString(namespace), sshString(""), sshString("sha512"), sshString(Buffer.concat([sshString("ssh-ed25519"), sshString(sig)]))]);
  return armor(blob, "SSH SIGNATURE");
}

/** Parses an `ssh-ed25519 AAAA… comment` line into its raw key. Throws `SIGNATURE_INVALID` for anything else. */
export function parseSshPublicKey(line: string): Buffer {
  let k: SshPublicKey;
  try {
    k = parsePublicKeyLine(line);
  } catch (e) {
    if (e instanceof SshKeyError) throw bad(e.problem === "unsupported-type" ? "only ssh-ed25519 public keys are supported" : e.why);
    throw e;
  }
  if (k.type !== "ssh-ed25519") throw bad("only ssh-ed25519 public keys are supported");
  return k.key;
}

/** An ed25519 public key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of its blob's sha256. */
export function sshFingerprint(publicKey: Buffer): string {
  return fingerprintOf(ed25519PublicKey(publicKey));
}

/**
 * Checks an armored SSH signature over `message`; returns the signer's raw public key when
 * valid. Throws `SIGNATURE_INVALID` when the signature is not a well-formed ed25519 SSHSIG.
 */
export function sshVerify(signature: string, message: Buffer | Digests, namespace = NAMESPACE): { valid: boolean; publicKey: Buffer } {
  const armored = armoredBlock(signature, "SSH SIGNATURE");
  if (!armored) throw bad("no SSH SIGNATURE block");
  if (!armored.subarray(0, MAGIC.length).equals(MAGIC)) throw bad("not an SSHSIG blob");
  const r = new SshReader(armored, bad);
  r.skip(MAGIC.length);
  if (r.uint32() !== 1) throw bad("unsupported SSHSIG version");
  let signer: SshPublicKey;
  try {
    signer = parsePublicKeyWire(r.string(), "the signature's key");
  } catch (e) {
    if (e instanceof SshKeyError) throw bad(e.problem === "unsupported-type" ? "only ed25519 signatures are supported" : `its key: ${e.why}`);
    throw e;
  }
  if (signer.type !== "ssh-ed25519") throw bad("only ed25519 signatures are supported");
  const publicKey = signer.key;
  const ns = r.string().toString();
  r.string(); // reserved
  const hashAlg = r.string().toString();
  const sig = new SshReader(r.string(), bad);
  if (sig.string().toString() !== "ssh-ed25519") throw bad("signature type mismatch");
  const raw = sig.string();
  if (ns !== namespace || (hashAlg !== "sha512" && hashAlg !== "sha256")) return { valid: false, publicKey };
  const hash = hashOf(hashAlg, message);
  const data = Buffer.concat([MAGIC, sshString(ns), sshString(""), sshString(hashAlg), sshString(hash)]);
  let key: KeyObject;
  try {
    key = keyObjectOf(signer);
  } catch {
    throw bad("its key is not a valid ed25519 key");
  }
  return { valid: verify(null, data, key, raw), publicKey };
}

/**
 * node:crypto's key for a signer, kept for the next signature by the same key: a walk over
 * signed history checks thousands of signatures by a handful of keys, and making the key
 * object cost as much as the check itself. Bounded, since a signature names its own key.
 */
const keyObjects = new Map<string, KeyObject>();
function keyObjectOf(signer: Extract<SshPublicKey, { type: "ssh-ed25519" }>): KeyObject {
  const id = signer.key.toString("base64");
  let k = keyObjects.get(id);
  if (!k) {
    k = publicKeyObject(signer);
    if (keyObjects.size >= 256) keyObjects.delete(keyObjects.keys().next().value as string);
    keyObjects.set(id, k);
  }
  return k;
}
