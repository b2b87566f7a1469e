import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";
import { Comment, SopsTime, type Scalar } from "./tree.js";

/** What a leaf can be when it is encrypted: any scalar but null, or a comment. */
export type Plain = Exclude<Scalar, null> | Comment;

// sops aes/cipher.go:34 — a 32-byte GCM nonce, not the usual 12.
const NONCE_SIZE = 32;
const TAG_SIZE = 16;
// aes/cipher.go:55 — anchored at the start only, greedy groups; base64 has no ',' so the split is exact.
const ENC_RE = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// What sops writes, matched without ENC_RE's backtracking (ENC_RE and three B64_RE tests were
// a seventh of a 500-value decrypt). Where it matches, ENC_RE's groups are the same: no field
// can hold a ',', ':' or ']', so each separator occurs once and the greedy split has no choice.
const ENC_SOPS_RE = /^ENC\[AES256_GCM,data:([A-Za-z0-9+/=]+),iv:([A-Za-z0-9+/=]+),tag:([A-Za-z0-9+/=]+),type:([a-z]+)\]$/;

/** B64_RE for a string of base64 characters and '=' only (as ENC_SOPS_RE's fields are). */
function paddedBase64(b64: string): boolean {
  const pad = b64.indexOf("=");
  return b64.length % 4 === 0 && (pad === -1 || (pad >= b64.length - 2 && b64.endsWith("=")));
}

const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The bits a padded base64 tail does not use must be zero in a canonical encoding. */
function canonicalTail(b64: string): boolean {
  if (b64.endsWith("==")) return (B64_ALPHABET.indexOf(b64[b64.length - 3] as string) & 0x0f) === 0;
  if (b64.endsWith("=")) return (B64_ALPHABET.indexOf(b64[b64.length - 2] as string) & 0x03) === 0;
  return true;
}

export const VALUE_TYPES = ["str", "int", "float", "bool", "bytes", "time", "comment"] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

export function isEncryptedValue(s: string): boolean {
  return ENC_RE.test(s);
}

/**
 * Formats a float the way Go's `strconv.FormatFloat(f, 'f', -1, 64)` does: the shortest
 * digits that round-trip, never an exponent (JS switches to `1e+21`/`1e-7`; sops does not).
 */
export function formatGoFloat(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  if (n === 0) return Object.is(n, -0) ? "-0" : "0";
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, lead, frac = "", expText] = m;
  const digits = `${lead}${frac}`;
  const exp = Number(expText);
  if (exp >= 0) {
    const intLen = 1 + exp;
    return digits.length <= intLen ? `${sign}${digits}${"0".repeat(intLen - digits.length)}` : `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
  }
  return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
}

/**
 * Go's `strconv.FormatFloat(f, 'g'|'G', -1, 64)`: shortest digits, and the exponent form
 * when the decimal exponent is < -4 or ≥ 6 (shortest mode fixes the precision at 6), with
 * at least two exponent digits — `1.234568e+09` as sops' YAML and dotenv stores print.
 */
export function formatGoFloatG(n: number, upper = false): string {
  if (!Number.isFinite(n) || n === 0) return formatGoFloat(n);
  const [mant = "", e = "0"] = n.toExponential().split("e");
  const exp = Number(e);
  if (exp < -4 || exp >= 6) {
    const ev = `${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
    return `${mant}${upper ? "E" : "e"}${ev}`;
  }
  return formatGoFloat(n);
}

/** The bytes sops hashes and encrypts for a leaf (`sops.go` ToBytes, `aes/cipher.go` Encrypt). */
export function plainBytes(v: Plain): { type: ValueType; bytes: Uint8Array } {
  if (typeof v === "string") return { type: "str", bytes: Buffer.from(v, "utf8") };
  if (typeof v === "bigint") return { type: "int", bytes: Buffer.from(v.toString(), "latin1") };
  if (typeof v === "number") return { type: "float", bytes: Buffer.from(formatGoFloat(v), "latin1") };
  // Python-era title case, kept by sops (aes/cipher.go:178-184).
  if (typeof v === "boolean") return { type: "bool", bytes: Buffer.from(v ? "True" : "False", "latin1") };
  // sops walks []byte leaves as string(in) (sops.go walkValue), so raw bytes are `type:str`.
  if (v instanceof Uint8Array) return { type: "str", bytes: v };
  if (v instanceof SopsTime) return { type: "time", bytes: Buffer.from(v.text, "utf8") };
  return { type: "comment", bytes: Buffer.from(v.text, "utf8") };
}

/**
 * Remembers the IV of every value decrypted, keyed by (path, typed plaintext), so that
 * re-encrypting an unchanged value yields the same ciphertext (sops aes/cipher.go stash):
 * an edit then changes only the lines that changed in git.
 */
export class IvStash {
  // Reads are far more common than re-seals: record cheaply, index on first recall.
  readonly #pending: [string, Plain, Uint8Array][] = [];
  readonly #ivs = new Map<string, Uint8Array>();

  static key(aad: string, v: Plain): string {
    // A comment's place on its line (inline or not) is not part of what is encrypted: the
    // same text under the same path is the same plaintext, so it keeps its ciphertext.
    const { type, bytes } = plainBytes(v);
    return `${aad}\u0000${type}\u0000${Buffer.from(bytes).toString("latin1")}`;
  }

  remember(aad: string, v: Plain, iv: Uint8Array): void {
    this.#pending.push([aad, v, iv]);
  }

  recall(aad: string, v: Plain): Uint8Array | undefined {
    for (const [a, p, iv] of this.#pending.splice(0)) this.#ivs.set(IvStash.key(a, p), iv);
    return this.#ivs.get(IvStash.key(aad, v));
  }
}

/** Encrypts one leaf into `ENC[AES256_GCM,…]`; empty strings/comments stay empty (aes/cipher.go:142). */
export function encryptValue(v: Plain, key: Uint8Array, aad: string, stash?: IvStash): string {
  const { type, bytes } = plainBytes(v);
  if (bytes.length === 0 && (typeof v === "string" || v instanceof Uint8Array || v instanceof Comment)) return "";
  const iv = stash?.recall(aad, v) ?? randomBytes(NONCE_SIZE);
  const c = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_SIZE });
  c.setAAD(Buffer.from(aad, "utf8"));
  const data = Buffer.concat([c.update(bytes), c.final()]);
  const tag = c.getAuthTag();
  return `ENC[AES256_GCM,data:${data.toString("base64")},iv:${Buffer.from(iv).toString("base64")},tag:${tag.toString("base64")},type:${type}]`;
}

export interface DecryptValueOptions {
  stash?: IvStash;
  /** Return `type:str` plaintext as raw bytes (the binary store: its data need not be UTF-8). */
  rawStrings?: boolean;
  /** For messages: where the value is (file and key path). Never the value itself. */
  where?: string;
}

/**
 * Decrypts one `ENC[…]` value with the data key and its AAD (the key path + ":"), returning
 * the typed plaintext. Throws `SOPS_VALUE_AUTH_FAILED` when the value was altered or moved,
 * `SOPS_MALFORMED_VALUE` when it is not an ENC value, `SOPS_UNKNOWN_TYPE` for a type sops
 * does not write.
 */
export function decryptValue(text: string, key: Uint8Array, aad: string, opts: DecryptValueOptions = {}): Plain {
  if (text === "") return "";
  const where = opts.where ?? aad;
  const sops = ENC_SOPS_RE.exec(text);
  const m = sops ?? ENC_RE.exec(text);
  if (!m) {
    throw new BootMetaError("SOPS_MALFORMED_VALUE", `the value at ${where} should be encrypted but is not an ENC[AES256_GCM,…] value`, ExitCode.ErrorDecryptingTree, {
      data: { path: where },
      suggestions: ["if it was edited by hand, restore it from git history, or re-encrypt the file with `boot-meta encrypt`"],
    });
  }
  const [, d64 = "", iv64 = "", tag64 = "", type = ""] = m;
  // Canonical base64 only: a lenient decoder ignores the low bits of the last character,
  // so a one-character change there would otherwise decode to the same bytes.
  const bad = (b64: string) => !(sops ? paddedBase64(b64) : B64_RE.test(b64)) || !canonicalTail(b64);
  const badField = bad(d64) ? "data" : bad(iv64) ? "iv" : bad(tag64) ? "tag" : undefined;
  if (badField) {
    throw new BootMetaError("SOPS_MALFORMED_VALUE", `the value at ${where} has a ${badField} field that is not valid base64`, ExitCode.ErrorDecryptingTree, {
      data: { path: where, field: badField },
      suggestions: ["the file was damaged or edited by hand; restore it from git history"],
    });
  }
  if (!(VALUE_TYPES as readonly string[]).includes(type)) {
    throw new BootMetaError("SOPS_UNKNOWN_TYPE", `the value at ${where} has type "${type}", which sops does not know (expected one of ${VALUE_TYPES.join(", ")})`, ExitCode.ErrorDecryptingTree, {
      data: { path: where, type },
    });
  }
  const iv = Buffer.from(iv64, "base64");
  const tag = Buffer.from(tag64, "base64");
  if (iv.length === 0 || tag.length !== TAG_SIZE) {
    throw authFailed(where);
  }
  let bytes: Buffer;
  try {
    const d = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_SIZE });
    d.setAAD(Buffer.from(aad, "utf8"));
    d.setAuthTag(tag);
    const head = d.update(Buffer.from(d64, "base64"));
    const tail = d.final(); // empty for GCM: then no copy
    bytes = tail.length ? Buffer.concat([head, tail]) : head;
  } catch (cause) {
    throw authFailed(where, cause);
  }
  const value = parseTyped(type as ValueType, bytes, where, opts.rawStrings === true);
  opts.stash?.remember(aad, value, iv);
  return value;
}

function authFailed(where: string, cause?: unknown): BootMetaError {
  return new BootMetaError(
    "SOPS_VALUE_AUTH_FAILED",
    `the value at ${where} failed authentication: its ciphertext, IV or tag was altered, or it was moved from another key`,
    ExitCode.ErrorDecryptingTree,
    { data: { path: where }, suggestions: ["restore the file from git history (`git log -p -- FILE`)"], cause },
  );
}

function parseTyped(type: ValueType, bytes: Buffer, where: string, raw: boolean): Plain {
  const s = bytes.toString("utf8");
  const bad = (what: string) =>
    new BootMetaError("SOPS_MALFORMED_VALUE", `the value at ${where} is declared type:${type} but its plaintext is not ${what}`, ExitCode.ErrorDecryptingTree, { data: { path: where, type } });
  switch (type) {
    case "str":
      return raw ? new Uint8Array(bytes) : s;
    case "int": {
      // strconv.Atoi: optional sign, decimal digits, within int64.
      if (!/^[+-]?\d+$/.test(s)) throw bad("a decimal integer");
      const n = BigInt(s);
      if (n > 9223372036854775807n || n < -9223372036854775808n) throw bad("within 64 bits");
      return n;
    }
    case "float":
      return parseGoFloat(s) ?? (() => { throw bad("a number"); })();
    case "bool": {
      // strconv.ParseBool's accepted spellings.
      if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
      if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
      throw bad("a boolean");
    }
    case "bytes":
      return new Uint8Array(bytes);
    case "time":
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s)) throw bad("an RFC 3339 time");
      return new SopsTime(s);
    case "comment":
      return new Comment(s);
  }
}

/** strconv.ParseFloat for the forms sops writes and Go accepts (decimal, exponent, Inf, NaN). */
export function parseGoFloat(s: string): number | undefined {
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Number(s);
  const lower = s.toLowerCase();
  if (/^[+]?inf(inity)?$/.test(lower)) return Infinity;
  if (/^-inf(inity)?$/.test(lower)) return -Infinity;
  if (lower === "nan") return NaN;
  return undefined;
}
