/**
 * The one place that knows what private key material looks like, so that no error, log line
 * or `--json` error object repeats a key a user pasted where a public key, a path or a command
 * was expected. Call sites should not interpolate such a value in the first place
 * ({@link looksLikePrivateKey} lets them say what went wrong instead); this is the net under
 * them, applied by `BootMetaError` and wherever the CLI renders an error or a note.
 */

// age identities: AGE-SECRET-KEY-1… (X25519), AGE-SECRET-KEY-PQ-1… (ML-KEM-768 hybrid) and
// plugin identities (AGE-PLUGIN-NAME-1…). Bech32 is case-insensitive, so a lowercased copy
// is still the key; a truncated one is still part of it.
const AGE_KEY = /AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]*/gi;
const AGE_PLUGIN = /AGE-PLUGIN-[0-9A-Z-]*?1[0-9A-Z]+/gi;
// PEM private key blocks (OpenSSH, PKCS#1, PKCS#8, SEC1, encrypted PKCS#8), through the END
// line, or to the end of the text when a message cut the block off.
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
// An OpenSSH private key's body on its own (base64 of "openssh-key-v1\0"), as a word split
// out of a pasted key would show it.
const OPENSSH_BODY = /b3BlbnNzaC1rZXktdjE[A-Za-z0-9+/=]*/g;

// The service's bearer tokens (records/tokens.ts): the id is public, the secret after it is not.
const SERVICE_TOKEN = /\b(bmt_[0-9a-f]{16}_)[A-Za-z0-9_-]+/g;

const ANY = /AGE-SECRET-KEY-|AGE-PLUGIN-[0-9A-Z-]*?1|-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|b3BlbnNzaC1rZXktdjE|bmt_[0-9a-f]{16}_/i;

/** True when `text` holds (part of) an age identity, a PEM/OpenSSH private key or a service token. */
export function looksLikePrivateKey(text: string): boolean {
  return ANY.test(text);
}

/**
 * `text` with every private key in it replaced by a marker that names its kind only. The
 * markers do not look like keys, so redacting twice changes nothing.
 */
export function redactSecrets(text: string): string {
  if (!looksLikePrivateKey(text)) return text;
  return text
    .replace(PEM_BLOCK, (_, kind: string) => `[redacted ${kind}private key]`)
    .replace(OPENSSH_BODY, "[redacted private key]")
    .replace(AGE_KEY, (k) => (/-PQ-/i.test(k) ? "[redacted age post-quantum secret key]" : "[redacted age secret key]"))
    .replace(AGE_PLUGIN, "[redacted age plugin identity]")
    .replace(SERVICE_TOKEN, (_, id: string) => `${id}[redacted token secret]`);
}

/** Strings anywhere in plain data (arrays, plain objects) redacted; other values kept as they are. */
export function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    // fromEntries defines own properties: a key named __proto__ stays data.
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redactSecrets(k), redactDeep(v)])) as T;
  }
  return value;
}

/**
 * An error from outside boot-meta's family (oclif's parse errors quote the argv they reject)
 * with its message and stack redacted in place, so whatever prints it next prints no key.
 */
export function redactError<E>(err: E): E {
  if (typeof err !== "object" || err === null) return err;
  for (const prop of ["message", "stack"] as const) {
    const v = (err as Record<string, unknown>)[prop];
    // defineProperty: oclif's CLIError has a getter-only `stack`.
    if (typeof v === "string" && looksLikePrivateKey(v)) Object.defineProperty(err, prop, { value: redactSecrets(v), writable: true, configurable: true });
  }
  return err;
}
