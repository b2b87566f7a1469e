import { decryptBytes, encryptBytes } from "./engine.js";
import { identitySetFrom, type IdentitySet, loadIdentities } from "./identities.js";
import type { SelectionRule } from "./selection.js";
import type { Format } from "./formats/index.js";

export interface EncryptTextOptions {
  /** age recipients (`age1…`); one group. Use `keyGroups` for several groups with Shamir. */
  recipients?: string[];
  keyGroups?: string[][];
  shamirThreshold?: number;
  /** yaml (default), json, dotenv, ini or binary. */
  format?: Format;
  selection?: SelectionRule;
  macOnlyEncrypted?: boolean;
}

/**
 * Encrypts a plaintext document into the SOPS format, readable by the sops 3.x binary.
 * Throws `SOPS_NO_RECIPIENTS`, `SOPS_INVALID_RECIPIENT`, `SOPS_MALFORMED_FILE`.
 */
export async function encrypt(plaintext: string | Uint8Array, o: EncryptTextOptions): Promise<string> {
  const bytes = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
  const out = await encryptBytes(bytes, {
    format: o.format ?? "yaml",
    keyGroups: o.keyGroups ?? [o.recipients ?? []],
    shamirThreshold: o.shamirThreshold,
    selection: o.selection,
    macOnlyEncrypted: o.macOnlyEncrypted,
  });
  return Buffer.from(out).toString("utf8");
}

export interface DecryptTextOptions {
  /** `AGE-SECRET-KEY-1…` strings, or a loaded set; default: sops' lookup (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, …). */
  identities?: string[] | IdentitySet;
  format?: Format;
  ignoreMac?: boolean;
}

/**
 * Decrypts a SOPS document (written by sops or by boot-meta) and returns the plaintext in
 * the same format. Throws `SOPS_DATA_KEY_UNAVAILABLE` (no identity opens it; `data.recipients`
 * says who can), `SOPS_MAC_MISMATCH`, `SOPS_VALUE_AUTH_FAILED`, `SOPS_MALFORMED_FILE`.
 */
export async function decrypt(ciphertext: string | Uint8Array, o: DecryptTextOptions = {}): Promise<string> {
  const bytes = typeof ciphertext === "string" ? Buffer.from(ciphertext, "utf8") : ciphertext;
  const identities = Array.isArray(o.identities) ? await identitySetFrom(o.identities) : (o.identities ?? (await loadIdentities()));
  const out = await decryptBytes(bytes, { format: o.format ?? "yaml", identities, ignoreMac: o.ignoreMac });
  return Buffer.from(out).toString("utf8");
}
