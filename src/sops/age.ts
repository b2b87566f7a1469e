import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
} from "node:crypto";
import { createRequire } from "node:module";
import { base64, bech32 } from "@scure/base";
import type { Decrypter, Identity, Recipient, Stanza } from "age-encryption";
import { BootMetaError, ExitCode } from "../errors.js";
import { looksLikePrivateKey } from "../redact.js";
import { isSshPrivateKey, parsePrivateKey, parsePublicKeyLine, publicKeyLine, publicKeyObject, SshKeyError, type SshPrivateKey, type SshPublicKey } from "../ssh/keys.js";
import { armorAge, decryptAgeX25519, encryptAgeX25519, nativeIdentity, type NativeX25519Identity, parsedNatives, x25519PrivateKey, x25519PublicKey, x25519RawPublic } from "./age-x25519.js";
import type { IdentitySet } from "./identities.js";

// The age side of sops' data-key wrapping (age/keysource.go): recipients, one armored age
// file per recipient in `enc`, and decryption with whatever identities the reader holds.
// X25519 and the ML-KEM-768 hybrid go through the age-encryption package (with a native fast
// path for X25519 in age-x25519.ts); ssh-ed25519 and ssh-rsa, which typage does not have,
// are implemented here after filippo.io/age's agessh package, which sops uses since 3.10.

// The age-encryption package (with the post-quantum and curve code under it) is loaded on
// first use: reading an X25519 file — what nearly every decrypt and loadConfig does — never
// needs it, and loading it costs more than the decryption (README "Start-up").
let ageModule: typeof import("age-encryption") | undefined;
async function age(): Promise<typeof import("age-encryption")> {
  ageModule ??= await import("age-encryption");
  return ageModule;
}

function invalidRecipient(r: string, why: string): BootMetaError {
  // A private key given where a recipient belongs is the one value here that is not public.
  if (looksLikePrivateKey(r)) return privateKeyAsRecipient();
  // Recipients are public: naming them in a message is fine and helps.
  return new BootMetaError("SOPS_INVALID_RECIPIENT", `${JSON.stringify(r)} is not a usable age recipient: ${why}`, ExitCode.InvalidArgument, {
    data: { recipient: r },
    suggestions: ["an age recipient looks like age1… (X25519), age1pq1… (post-quantum hybrid) or a whole `ssh-ed25519 AAAA…` public key line; `age-keygen -y key.txt` prints yours"],
  });
}

function privateKeyAsRecipient(): BootMetaError {
  return new BootMetaError("SOPS_INVALID_RECIPIENT", "a private key was given where an age recipient (a public key) belongs; it is not repeated here", ExitCode.InvalidArgument, {
    suggestions: [
      "give the public key instead: `age-keygen -y key.txt` prints it (age1…), `ssh-keygen -y -f key` for an SSH key",
      "if the private key was pasted somewhere others can see (a shell history, a CI log), treat it as leaked: rotate it",
    ],
  });
}

function invalidIdentity(where: string, why: string): BootMetaError {
  // Never any part of the key itself.
  return new BootMetaError("SOPS_INVALID_IDENTITY", `${where} is not a usable identity: ${why}`, ExitCode.CouldNotRetrieveKey, { data: { where } });
}

function corrupt(why: string): BootMetaError {
  return new BootMetaError("SOPS_WRAPPED_KEY_CORRUPT", `a wrapped data key in the sops metadata is damaged: ${why}`, ExitCode.CouldNotRetrieveKey, {
    suggestions: ["restore the file from git history; the `enc` entries of the sops section must not be edited by hand"],
  });
}

/**
 * Splits comma lists, trims, drops empty entries and duplicates, and validates every
 * recipient (sops age/keysource.go:87-129, 489-520). Throws `SOPS_INVALID_RECIPIENT` naming
 * the bad one.
 */
export function parseRecipients(list: string | readonly string[]): string[] {
  const items = (typeof list === "string" ? [list] : list).flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  for (const r of items) validateRecipient(r);
  return [...new Set(items)];
}

/** Throws `SOPS_INVALID_RECIPIENT` unless `r` is a recipient boot-meta can wrap a data key for. */
export function validateRecipient(r: string): void {
  recipientFor(r);
}

const parsedRecipients = new Map<string, Recipient | string>();

/** What the age-encryption Encrypter takes for `r`: the string itself, or our ssh recipient. */
function recipientFor(r: string): Recipient | string {
  const hit = parsedRecipients.get(r);
  if (hit) return hit;
  let out: Recipient | string;
  if (r.startsWith("ssh-")) out = sshRecipient(r);
  else if (/^(ecdsa-|sk-)\S+ AAAA/.test(r)) throw invalidRecipient(r, `${r.split(" ")[0]} SSH public keys cannot be age recipients: age takes ssh-ed25519 and ssh-rsa keys`);
  else if (!r.startsWith("age1")) throw invalidRecipient(r, "it does not start with age1 (or ssh- for an SSH public key)");
  // sops' dispatch (keysource.go:489-520): age1pq1 is the hybrid, any other age1 with a
  // second "1" names a plugin (age1yubikey1…), which needs a plugin binary to wrap for.
  else if (!r.startsWith("age1pq1") && !r.startsWith("age1tag1") && !r.startsWith("age1tagpq1") && r.indexOf("1", 4) >= 0) {
    throw invalidRecipient(r, `it is an age plugin recipient (age-plugin-${r.slice(4, r.indexOf("1", 4))}), and boot-meta does not run age plugins`);
  } else {
    try {
      checkAgeRecipient(r);
    } catch (e) {
      throw invalidRecipient(r, `${(e as Error).message} (bad bech32 encoding or checksum)`);
    }
    out = r;
  }
  if (parsedRecipients.size > 10_000) parsedRecipients.clear();
  parsedRecipients.set(r, out);
  return out;
}

/**
 * Throws as age-encryption's `Encrypter.addRecipient` does for a native age recipient it
 * cannot use (recipients.js: X25519Recipient, HybridRecipient, TagRecipient,
 * HybridTagRecipient): the same bech32 decoding, so the same messages, without loading it.
 */
function checkAgeRecipient(r: string): void {
  const [hrp, size, long] = r.startsWith("age1pq1")
    ? ["age1pq", 1216, true]
    : r.startsWith("age1tag1")
      ? ["age1tag", 33, false]
      : r.startsWith("age1tagpq1")
        ? ["age1tagpq", 1249, true]
        : ["age", 32, false];
  let prefix: string;
  let bytes: Uint8Array;
  if (long) {
    // The post-quantum ones are decoded without bech32's 90-character limit, as there.
    const d = bech32.decode(r as `${string}1${string}`, false);
    prefix = d.prefix;
    bytes = bech32.fromWords(d.words);
  } else ({ prefix, bytes } = bech32.decodeToBytes(r));
  if (prefix.toLowerCase() !== hrp || bytes.length !== size) throw new Error("invalid recipient");
}

/**
 * The raw age file inside an ASCII-armored one, as age-encryption's `armor.decode` reads it
 * (armor.js; the strict PEM subset of the age spec): surrounding whitespace and CRLF are
 * fine, everything else must be exact. Throws an Error with its messages.
 */
function decodeArmor(text: string): Uint8Array {
  const lines = text.trim().replaceAll("\r\n", "\n").split("\n");
  if (lines.shift() !== "-----BEGIN AGE ENCRYPTED FILE-----") throw new Error("invalid header");
  if (lines.pop() !== "-----END AGE ENCRYPTED FILE-----") throw new Error("invalid footer");
  const last = lines.length - 1;
  if (!lines.every((l, i) => (i === last ? l.length > 0 && l.length <= 64 && l.length % 4 === 0 : l.length === 64))) throw new Error("invalid line length");
  if (!lines.every((l) => /^[A-Za-z0-9+/=]+$/.test(l))) throw new Error("invalid base64");
  return base64.decode(lines.join(""));
}

/**
 * Wraps `data` (a 32-byte data key or a 33-byte Shamir share) for one recipient, exactly as
 * sops stores it in `enc`: a whole ASCII-armored age file per recipient (never one file with
 * several stanzas), standard base64 in 64 columns, with its trailing newline
 * (age/keysource.go:163-196). Throws `SOPS_INVALID_RECIPIENT`.
 */
export async function wrapDataKey(data: Uint8Array, recipient: string): Promise<string> {
  const r = recipient.trim();
  const parsed = recipientFor(r);
  const native = typeof parsed === "string" ? nativeRecipient(r) : undefined;
  if (native) {
    let file: Buffer | undefined;
    try {
      file = encryptAgeX25519(data, native);
    } catch (e) {
      throw invalidRecipient(r, `${(e as Error).message}, which no one holds the private key of`);
    }
    if (file) return armorAge(file);
  }
  const { armor, Encrypter } = await age();
  const e = new Encrypter();
  e.addRecipient(parsed);
  return armor.encode(await e.encrypt(data));
}

const nativeRecipients = new Map<string, { key: KeyObject; publicKey: Uint8Array }>();

/**
 * The X25519 public key of a plain `age1…` recipient (already validated by `recipientFor`),
 * built once per recipient; undefined for the hybrid and tagged kinds, which the package wraps.
 */
function nativeRecipient(r: string): { key: KeyObject; publicKey: Uint8Array } | undefined {
  const hit = nativeRecipients.get(r);
  if (hit) return hit;
  if (expectedStanza(r) !== "X25519") return undefined;
  const { bytes } = bech32.decodeToBytes(r);
  const out = { key: x25519PublicKey(bytes), publicKey: bytes };
  if (nativeRecipients.size > 10_000) nativeRecipients.clear();
  nativeRecipients.set(r, out);
  return out;
}

/** A new age key pair (X25519, or the ML-KEM-768 + X25519 post-quantum hybrid). */
export async function generateAgeKey(opts: { postQuantum?: boolean } = {}): Promise<{ identity: string; recipient: string }> {
  const { generateHybridIdentity, generateX25519Identity, identityToRecipient } = await age();
  const identity = opts.postQuantum ? await generateHybridIdentity() : await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

// ---------------------------------------------------------------------------------------
// Unwrapping

type Kind = "X25519" | "mlkem768x25519" | "ssh-ed25519" | "ssh-rsa";

interface Prepared {
  kind: Kind;
  recipient: string;
  /** The ssh key tag that names it in ssh stanzas. */
  tag?: string;
  /** Built on first use: typage's X25519 identity does a pure-JS scalar multiplication up front. */
  decrypter: () => Promise<Decrypter>;
  native?: NativeX25519Identity;
}

const prepared = new WeakMap<IdentitySet, Prepared[]>();

function lazyDecrypter(identity: string | Identity): () => Promise<Decrypter> {
  let d: Decrypter | undefined;
  return async () => {
    if (!d) {
      d = new (await age()).Decrypter();
      d.addIdentity(identity);
    }
    return d;
  };
}

/** Parses a set's identities once: the WeakMap drops them with the set. */
function prepare(set: IdentitySet): Prepared[] {
  let p = prepared.get(set);
  if (p) return p;
  const natives = parsedNatives.get(set);
  p = set.identities.map((id, i): Prepared => {
    const recipient = set.recipients[i] ?? `#${i + 1}`;
    if (isSshPrivateKey(id)) {
      const ssh = parseSshIdentity(id, `identity ${i + 1}`);
      return { kind: ssh.type, recipient, tag: ssh.tag, decrypter: lazyDecrypter(ssh) };
    }
    if (id.startsWith("AGE-SECRET-KEY-PQ-1")) return { kind: "mlkem768x25519", recipient, decrypter: lazyDecrypter(id) };
    return { kind: "X25519", recipient, decrypter: lazyDecrypter(id), native: natives?.get(id) ?? nativeIdentity(id) };
  });
  prepared.set(set, p);
  return p;
}

/** The stanza lines of an age header ("-> TYPE args…"), read without parsing the bodies. */
function stanzaArgs(file: Uint8Array): string[][] {
  const text = Buffer.from(file.subarray(0, Math.min(file.length, 64 * 1024))).toString("latin1");
  if (!text.startsWith("age-encryption.org/v1\n")) throw corrupt("it is not an age v1 file");
  const end = text.indexOf("\n--- ");
  if (end < 0) throw corrupt("its age header has no MAC line");
  return text
    .slice(0, end)
    .split("\n")
    .filter((l) => l.startsWith("-> "))
    .map((l) => l.slice(3).split(" "));
}

/**
 * The stanza types of an armored age file (`X25519`, `mlkem768x25519`, `ssh-ed25519 TAG`, …),
 * read from its header without any key: what an `enc` is really wrapped to, beside the
 * `recipient` label a writer can set to anything. Throws `SOPS_WRAPPED_KEY_CORRUPT`.
 */
export function stanzasOf(enc: string): string[] {
  let file: Uint8Array;
  try {
    file = decodeArmor(enc);
  } catch (e) {
    throw corrupt(`it is not a valid armored age file (${(e as Error).message})`);
  }
  return stanzaArgs(file).map((a) => (a[0] === "ssh-ed25519" || a[0] === "ssh-rsa" ? `${a[0]} ${a[1] ?? ""}` : (a[0] ?? "")));
}

/**
 * The stanza an honest wrap to `recipient` has, when it can be told from the recipient alone:
 * X25519 for age1…, the ML-KEM hybrid for age1pq1…, and the ssh key's tag for ssh keys.
 */
export function expectedStanza(recipient: string): string | undefined {
  const r = recipient.trim();
  if (r.startsWith("age1pq1")) return "mlkem768x25519";
  if (/^age1[02-9ac-hj-np-z]+$/.test(r) && r.length === 62) return "X25519";
  if (r.startsWith("ssh-ed25519 ") || r.startsWith("ssh-rsa ")) {
    const [type, b64] = r.split(/\s+/);
    try {
      return `${type} ${sshTag(Buffer.from(b64 ?? "", "base64"))}`;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Unwraps an `enc` with any identity of the set. Resolves `undefined` when none of the
 * identities is a recipient of this file (so the caller can try the next key); throws
 * `SOPS_WRAPPED_KEY_CORRUPT` when the armored file is malformed, or fails authentication for
 * an identity it is addressed to. `recipientHint` (the entry's `recipient`) only orders the
 * attempts: the identity for it goes first.
 */
export async function unwrapDataKey(enc: string, identities: IdentitySet, recipientHint?: string): Promise<Uint8Array | undefined> {
  let file: Uint8Array;
  try {
    file = decodeArmor(enc);
  } catch (e) {
    throw corrupt(`it is not a valid armored age file (${(e as Error).message})`);
  }
  const all = prepare(identities);
  const hintFirst = (ps: Prepared[]) => {
    const i = recipientHint === undefined ? -1 : ps.findIndex((p) => p.recipient === recipientHint);
    return i <= 0 ? ps : [ps[i] as Prepared, ...ps.slice(0, i), ...ps.slice(i + 1)];
  };
  // The common case natively first, before any other parsing: what sops writes for an age1
  // recipient is one X25519 stanza, and Node's X25519 is ten times the pure-JS speed.
  const natives = hintFirst(all.filter((p) => p.native !== undefined));
  let nativeSaid: "not-mine" | "unknown" | undefined;
  if (natives.length) {
    const r = decryptAgeX25519(file, natives.map((p) => p.native as NativeX25519Identity));
    if (r.kind === "ok") return r.data;
    if (r.kind === "corrupt") throw corrupt(r.why);
    nativeSaid = r.kind;
  }
  const stanzas = stanzaArgs(file);
  const types = new Set(stanzas.map((s) => s[0]));
  const tags = new Set(stanzas.filter((s) => s[0] === "ssh-ed25519" || s[0] === "ssh-rsa").map((s) => `${s[0]} ${s[1]}`));
  // Only identities that one of the file's stanzas can address are worth a try; an ssh
  // stanza even names its key by a tag (agessh.go sshFingerprint).
  const candidates = hintFirst(
    all.filter((p) => types.has(p.kind) && (p.tag === undefined || tags.has(`${p.kind} ${p.tag}`)) && !(nativeSaid === "not-mine" && p.native !== undefined)),
  );
  for (const p of candidates) {
    try {
      return await (await p.decrypter()).decrypt(file);
    } catch (e) {
      const msg = (e as Error).message;
      if (msg.includes("no identity matched")) continue;
      throw corrupt(msg);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// ssh-ed25519 and ssh-rsa, as filippo.io/age/agessh defines them (agessh/agessh.go). The keys
// themselves are parsed by ssh/keys.ts; what is agessh's own is here: the point
// check, the X25519 keys of an Ed25519 key, the tag, and the wrapping.

const ED25519_LABEL = Buffer.from("age-encryption.org/v1/ssh-ed25519");
const RSA_LABEL = Buffer.from("age-encryption.org/v1/ssh-rsa");

const b64raw = (b: Uint8Array): string => Buffer.from(b).toString("base64").replace(/=+$/, "");

type Noble = typeof import("@noble/curves/ed25519.js");
let noble: Noble | undefined;
/**
 * @noble/curves' Ed25519, loaded on first use: only SSH keys need it, and the callers that
 * need it are synchronous (recipient validation), hence `require` of the ES module, which
 * every Node that @noble/curves supports (>= 20.19) can do.
 */
const ed25519 = (): Noble["ed25519"] => (noble ??= createRequire(import.meta.url)("@noble/curves/ed25519.js") as Noble).ed25519;

/** The 4-byte key tag in ssh stanzas: SHA-256 of the wire-format public key (sshFingerprint). */
function sshTag(wire: Uint8Array): string {
  return b64raw(createHash("sha256").update(wire).digest().subarray(0, 4));
}

/**
 * The X25519 public key of an Ed25519 public key (agessh.go ed25519PublicKeyToCurve25519), or
 * why there is none. edwards25519's SetBytes, which agessh uses, accepts the non-canonical
 * encodings (y ≥ p, x = 0 with the sign bit set) that noble's `toMontgomery` refuses, so the
 * point is decoded as ZIP 215 does (the same rule) and re-encoded before the conversion.
 */
function montgomeryOf(pub: Uint8Array): Uint8Array | string {
  let point: InstanceType<Noble["ed25519"]["Point"]>;
  try {
    point = ed25519().Point.fromBytes(pub, true);
  } catch {
    return "its Ed25519 key is not a point on the curve";
  }
  // X25519 with a point of small order yields the all-zero secret, which curve25519.X25519
  // refuses ("bad input point: low order point"): age cannot wrap to such a key either.
  if (point.isSmallOrder()) return "its Ed25519 key is a point of small order, which no one holds the private key of";
  return ed25519().utils.toMontgomery(point.toBytes());
}


function chacha(key: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = createCipheriv("chacha20-poly1305", key, Buffer.alloc(12), { authTagLength: 16 });
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

function unchacha(key: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < 16) return undefined;
  try {
    const d = createDecipheriv("chacha20-poly1305", key, Buffer.alloc(12), { authTagLength: 16 });
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
  } catch {
    return undefined;
  }
}

/** The shared secret of ssh-ed25519, tweaked by the key itself (agessh.go Wrap/unwrap). */
function ed25519Secret(scalar: KeyObject, peer: Uint8Array, wire: Uint8Array): Buffer {
  const shared = diffieHellman({ privateKey: scalar, publicKey: x25519PublicKey(peer) });
  const tweak = Buffer.from(hkdfSync("sha256", Buffer.alloc(0), wire, ED25519_LABEL, 32));
  return diffieHellman({ privateKey: x25519PrivateKey(tweak), publicKey: x25519PublicKey(shared) });
}

function sshRecipient(line: string): Recipient {
  let key: SshPublicKey;
  try {
    key = parsePublicKeyLine(line);
  } catch (e) {
    if (!(e instanceof SshKeyError)) throw e;
    if (e.problem === "unsupported-type") throw invalidRecipient(line, `${e.keyType} SSH public keys cannot be age recipients: age takes ssh-ed25519 and ssh-rsa keys`);
    throw invalidRecipient(line, `it is not a well-formed SSH public key line (\`type base64-key [comment]\`): ${e.why}`);
  }
  const wire = key.wire;
  const tag = sshTag(wire);
  if (key.type === "ssh-ed25519") {
    const their = montgomeryOf(key.key);
    if (typeof their === "string") throw invalidRecipient(line, their);
    return {
      wrapFileKey(fileKey: Uint8Array): Stanza[] {
        const eph = generateKeyPairSync("x25519");
        const ours = x25519RawPublic(eph.publicKey);
        const secret = ed25519Secret(eph.privateKey, their, wire);
        const k = Buffer.from(hkdfSync("sha256", secret, Buffer.concat([ours, their]), ED25519_LABEL, 32));
        return [{ args: ["ssh-ed25519", tag, b64raw(ours)], body: chacha(k, fileKey) }];
      },
    };
  }
  // agessh refuses RSA keys under 2048 bits (NewRSARecipient: pubKey.Size() < 2048/8).
  if (key.n.length < 256) throw invalidRecipient(line, `its RSA key is ${key.bits} bits; age needs at least 2048`);
  let rsa: KeyObject;
  try {
    rsa = publicKeyObject(key);
  } catch {
    throw invalidRecipient(line, "its RSA key is malformed");
  }
  return {
    wrapFileKey(fileKey: Uint8Array): Stanza[] {
      const body = publicEncrypt({ key: rsa, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", oaepLabel: RSA_LABEL }, fileKey);
      return [{ args: ["ssh-rsa", tag], body }];
    },
  };
}

/** An ssh private key as an age identity: what it opens and how. */
export interface SshIdentity extends Identity {
  readonly type: "ssh-ed25519" | "ssh-rsa";
  /** `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…`, without a comment. */
  readonly recipient: string;
  readonly tag: string;
}

/**
 * Parses an unencrypted SSH private key (OpenSSH `openssh-key-v1`, or PKCS#1/PKCS#8 PEM) into
 * an age identity, as agessh.ParseIdentity does. Throws `SOPS_INVALID_IDENTITY` naming
 * `where` — passphrase-protected keys included, since nothing here may prompt.
 */
export function parseSshIdentity(text: string, where: string): SshIdentity {
  let key: SshPrivateKey;
  try {
    key = parsePrivateKey(text, where);
  } catch (e) {
    if (!(e instanceof SshKeyError)) throw e;
    if (e.problem === "passphrase-protected") {
      throw invalidIdentity(where, "it is a passphrase-protected SSH key, which boot-meta cannot unlock; use an age key, or a copy of the SSH key without a passphrase (`ssh-keygen -p`)");
    }
    if (e.problem === "unsupported-type") throw invalidIdentity(where, `it is an ${e.keyType} SSH key; age opens only ssh-ed25519 and ssh-rsa`);
    throw invalidIdentity(where, `it is not a well-formed SSH private key (${e.why})`);
  }
  const { type } = key;
  const wire = key.publicKey.wire;
  const unwrap = key.type === "ssh-ed25519" ? ed25519Identity(key.seed, wire) : rsaIdentity(key.privateKey);
  const tag = sshTag(wire);
  return {
    type,
    tag,
    recipient: publicKeyLine(key.publicKey),
    unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
      for (const s of stanzas) {
        if (s.args[0] !== type || s.args[1] !== tag) continue;
        const fileKey = unwrap(s);
        // The stanza names this very key, so failure is damage, not someone else's key
        // (agessh.go unwrap: "failed to decrypt file key").
        if (!fileKey) throw new Error(`failed to decrypt the file key of the ${type} stanza`);
        return fileKey;
      }
      return null;
    },
  };
}

function ed25519Identity(seed: Uint8Array, wire: Buffer): (s: Stanza) => Uint8Array | null {
  // The X25519 scalar of an Ed25519 key is the first half of SHA-512(seed), clamped
  // (agessh.go ed25519PrivateKeyToCurve25519).
  const scalar = x25519PrivateKey(ed25519().utils.toMontgomerySecret(seed));
  const ours = x25519RawPublic(scalar);
  return (s: Stanza) => {
    if (s.args.length !== 3) throw new Error("invalid ssh-ed25519 stanza");
    const peer = Buffer.from(s.args[2] as string, "base64");
    if (peer.length !== 32) throw new Error("invalid ssh-ed25519 stanza");
    const secret = ed25519Secret(scalar, peer, wire);
    const key = Buffer.from(hkdfSync("sha256", secret, Buffer.concat([peer, ours]), ED25519_LABEL, 32));
    return unchacha(key, s.body) ?? null;
  };
}

function rsaIdentity(key: KeyObject): (s: Stanza) => Uint8Array | null {
  return (s: Stanza) => {
    if (s.args.length !== 2) throw new Error("invalid ssh-rsa stanza");
    try {
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", oaepLabel: RSA_LABEL }, s.body);
    } catch {
      return null;
    }
  };
}
