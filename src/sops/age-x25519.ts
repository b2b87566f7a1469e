import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject, randomBytes, timingSafeEqual } from "node:crypto";
import { bech32 } from "@scure/base";

// The age v1 format for the one case every sops file of ours has — a small file wrapped for
// X25519 recipients — encrypted and decrypted with Node's native X25519, HKDF, HMAC and
// ChaCha20-Poly1305 (age-encryption.org/v1 spec, c2sp.org/age: X25519 recipient stanza,
// header MAC, STREAM payload). It is only an accelerator: anything it does not recognise
// returns "unknown" and the age-encryption package decides. Encrypting natively matters as
// much as decrypting: the package wraps through WebCrypto, which imports a key per call.

const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const LABEL = Buffer.from("age-encryption.org/v1/X25519");

// Keys go into Node's crypto as JWK, not DER: OpenSSL 3 reads a PKCS#8 or SPKI key through its
// generic decoder chain (~0.5 ms a key here, a tenth of a config load), while an OKP JWK is set
// from its raw bytes (~0.07 ms). Node builds a private OKP key from `d` alone — it wants an `x`
// but does not read it (lib/internal/crypto/keys.js, getKeyObjectHandleFromJwk) — so the public
// half is read back from the key, as OpenSSL derives it. Should a Node ever check `x` against
// `d`, the private key is read as PKCS#8 instead (a test compares both).
const UNREAD_X = "A".repeat(43);

/** An X25519 private key from its 32-byte scalar. */
export function x25519PrivateKey(scalar: Uint8Array): KeyObject {
  const d = Buffer.from(scalar).toString("base64url");
  try {
    return createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: UNREAD_X }, format: "jwk" });
  } catch {
    return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, scalar]), format: "der", type: "pkcs8" });
  }
}

/** An X25519 public key from its 32-byte u-coordinate. */
export const x25519PublicKey = (u: Uint8Array): KeyObject => createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(u).toString("base64url") }, format: "jwk" });

/** The 32-byte public key of an X25519 key, private or public. */
export const x25519RawPublic = (k: KeyObject): Buffer => Buffer.from(k.export({ format: "jwk" }).x as string, "base64url");

export interface NativeX25519Identity {
  key: KeyObject;
  /** The 32-byte public key (the recipient's u-coordinate). */
  publicKey: Buffer;
}

/**
 * The X25519 identities of an identity set (identities.ts), by their text, as they were parsed
 * to learn their recipients: decryption takes them from here rather than import each key into
 * OpenSSL a second time. Dropped with the set.
 */
export const parsedNatives = new WeakMap<object, ReadonlyMap<string, NativeX25519Identity>>();

/** Parses `AGE-SECRET-KEY-1…`; undefined for any other kind. */
export function nativeIdentity(identity: string): NativeX25519Identity | undefined {
  if (!identity.startsWith("AGE-SECRET-KEY-1")) return undefined;
  try {
    const { prefix, words } = bech32.decode(identity.toLowerCase() as `${string}1${string}`, 1024);
    const scalar = Buffer.from(bech32.fromWords(words));
    if (prefix !== "age-secret-key-" || scalar.length !== 32) return undefined;
    const key = x25519PrivateKey(scalar);
    return { key, publicKey: x25519RawPublic(key) };
  } catch {
    return undefined;
  }
}

/**
 * HKDF-SHA-256 with a 32-byte output (RFC 5869: PRK = HMAC(salt, IKM), then one expand block
 * T(1) = HMAC(PRK, info || 0x01)), the only length age asks for. Node's hkdfSync gives the
 * same bytes (a test holds them equal) but builds a KeyObject and runs a job per call, four
 * times the cost of the two HMACs — six calls per file a re-key opens and re-wraps.
 */
export function hkdf32(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Buffer {
  const prk = createHmac("sha256", salt).update(ikm).digest();
  return createHmac("sha256", prk).update(info).update(ONE).digest();
}
const ONE = Buffer.of(1);
const HEADER = Buffer.from("header");
const PAYLOAD = Buffer.from("payload");

const b64nopad = (s: string): Buffer | undefined => (/^[A-Za-z0-9+/]*$/.test(s) ? Buffer.from(s, "base64") : undefined);

function chachaOpen(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < 16) return undefined;
  try {
    const d = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
  } catch {
    return undefined;
  }
}

export type NativeResult = { kind: "ok"; data: Uint8Array } | { kind: "not-mine" } | { kind: "corrupt"; why: string } | { kind: "unknown" };

/** Decrypts a binary age file with X25519 identities. */
export function decryptAgeX25519(file: Uint8Array, ids: NativeX25519Identity[]): NativeResult {
  const buf = Buffer.from(file);
  const text = buf.toString("latin1");
  if (!text.startsWith("age-encryption.org/v1\n")) return { kind: "unknown" };
  const macAt = text.indexOf("\n--- ");
  if (macAt < 0) return { kind: "unknown" };
  const headerEnd = text.indexOf("\n", macAt + 5);
  if (headerEnd < 0) return { kind: "unknown" };
  const lines = text.slice("age-encryption.org/v1\n".length, macAt).split("\n");
  // Stanzas: "-> TYPE args…" then base64 body lines, the last one shorter than 64 columns.
  const stanzas: { args: string[]; body: string }[] = [];
  for (const line of lines) {
    if (line.startsWith("-> ")) stanzas.push({ args: line.slice(3).split(" "), body: "" });
    else if (stanzas.length) (stanzas[stanzas.length - 1] as { body: string }).body += line;
    else return { kind: "unknown" };
  }
  if (stanzas.some((s) => s.args[0] !== "X25519")) return { kind: "unknown" };
  for (const s of stanzas) {
    const share = b64nopad(s.args[1] ?? "");
    const body = b64nopad(s.body);
    if (s.args.length !== 2 || !share || share.length !== 32 || !body || body.length !== 32) return { kind: "corrupt", why: "invalid X25519 stanza" };
    const peer = x25519PublicKey(share);
    for (const id of ids) {
      const shared = diffieHellman({ privateKey: id.key, publicKey: peer });
      const wrapKey = hkdf32(shared, Buffer.concat([share, id.publicKey]), LABEL);
      const fileKey = chachaOpen(wrapKey, Buffer.alloc(12), body);
      if (!fileKey) continue;
      // The header MAC covers everything up to and including "---".
      const hmacKey = hkdf32(fileKey, Buffer.alloc(0), HEADER);
      const mac = createHmac("sha256", hmacKey).update(buf.subarray(0, macAt + 4)).digest();
      const stored = b64nopad(text.slice(macAt + 5, headerEnd));
      if (!stored || stored.length !== 32 || !timingSafeEqual(mac, stored)) return { kind: "corrupt", why: "invalid header HMAC" };
      const payload = buf.subarray(headerEnd + 1);
      if (payload.length < 16 + 16) return { kind: "corrupt", why: "payload too short" };
      const streamKey = hkdf32(fileKey, payload.subarray(0, 16), PAYLOAD);
      const sealed = payload.subarray(16);
      // A data key or a Shamir share fits one STREAM chunk: counter 0, last-chunk flag set.
      if (sealed.length > 64 * 1024 + 16) return { kind: "unknown" };
      const nonce = Buffer.alloc(12);
      nonce[11] = 1;
      const data = chachaOpen(streamKey, nonce, sealed);
      return data ? { kind: "ok", data: new Uint8Array(data) } : { kind: "corrupt", why: "payload failed authentication" };
    }
  }
  return { kind: "not-mine" };
}

// ---------------------------------------------------------------------------------------
// Encrypting

const b64raw = (b: Uint8Array): string => Buffer.from(b).toString("base64").replace(/=+$/, "");

/** ChaCha20-Poly1305 seal: ciphertext || 16-byte tag. */
function chachaSeal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Buffer {
  const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

/** The largest payload written as one STREAM chunk; longer data is left to the package. */
export const NATIVE_MAX_PAYLOAD = 64 * 1024;

/**
 * A binary age file of `data` for one X25519 recipient (its 32-byte public key, as
 * `x25519PublicKey` builds it). Returns undefined for data longer than one STREAM chunk
 * (never the case for a data key or a Shamir share). Throws a plain Error when the recipient
 * is a point of small order — the shared secret would be all zeros, which the spec's identity
 * side must refuse, so nobody could open the file.
 */
export function encryptAgeX25519(data: Uint8Array, recipient: { key: KeyObject; publicKey: Uint8Array }): Buffer | undefined {
  if (data.length > NATIVE_MAX_PAYLOAD) return undefined;
  // File key: 16 bytes of CSPRNG output, never reused across files (spec "File key").
  const fileKey = randomBytes(16);
  // A new ephemeral secret per stanza and per file (spec "X25519 recipient stanza").
  const eph = generateKeyPairSync("x25519");
  const share = x25519RawPublic(eph.publicKey);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipient.key });
  } catch {
    // OpenSSL refuses to derive an all-zero X25519 secret (a small-order peer point).
    throw new Error("the recipient is a point of small order");
  }
  if (shared.every((b) => b === 0)) throw new Error("the recipient is a point of small order");
  const wrapKey = hkdf32(shared, Buffer.concat([share, recipient.publicKey]), LABEL);
  const body = chachaSeal(wrapKey, Buffer.alloc(12), fileKey);
  // The body (32 bytes) is 43 base64 columns: one final line shorter than 64.
  const header = `age-encryption.org/v1\n-> X25519 ${b64raw(share)}\n${b64raw(body)}\n---`;
  const hmacKey = hkdf32(fileKey, Buffer.alloc(0), HEADER);
  const mac = createHmac("sha256", hmacKey).update(header, "latin1").digest();
  // Payload: a fresh 16-byte nonce, then the data as the one and final STREAM chunk
  // (counter 0, last byte 0x01); empty data is one empty final chunk.
  const nonce = randomBytes(16);
  const streamKey = hkdf32(fileKey, nonce, PAYLOAD);
  const chunkNonce = Buffer.alloc(12);
  chunkNonce[11] = 1;
  return Buffer.concat([Buffer.from(`${header} ${b64raw(mac)}\n`, "latin1"), nonce, chachaSeal(streamKey, chunkNonce, data)]);
}

/**
 * The ASCII armor of a binary age file as sops stores it in `enc`: strict PEM (RFC 7468) with
 * the label "AGE ENCRYPTED FILE", padded standard base64 in 64 columns, a trailing newline.
 */
export function armorAge(file: Uint8Array): string {
  const b64 = Buffer.from(file).toString("base64");
  let out = "-----BEGIN AGE ENCRYPTED FILE-----\n";
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END AGE ENCRYPTED FILE-----\n`;
}
