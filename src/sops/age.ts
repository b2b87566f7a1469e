import { armor, Decrypter, Encrypter, generateHybridIdentity, generateX25519Identity, identityToRecipient } from "age-encryption";
import { BootMetaError, ExitCode } from "../errors.js";
import { decryptAgeX25519, nativeIdentity, type NativeX25519Identity } from "./age-x25519.js";
import type { IdentitySet } from "./identities.js";

function invalidRecipient(r: string, why: string): BootMetaError {
  // Recipients are public: naming them in a message is fine and helps.
  return new BootMetaError("SOPS_INVALID_RECIPIENT", `${JSON.stringify(r)} is not a usable age recipient: ${why}`, ExitCode.InvalidArgument, {
    data: { recipient: r },
    suggestions: ["an age recipient looks like age1… (X25519) or age1pq1… (post-quantum hybrid); `age-keygen -y key.txt` prints yours"],
  });
}

/**
 * Splits comma lists, trims, drops empties and validates every recipient (sops
 * age/keysource.go:87-103). Throws `SOPS_INVALID_RECIPIENT` naming the bad one.
 */
export function parseRecipients(list: string | readonly string[]): string[] {
  const items = (typeof list === "string" ? [list] : list).flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  for (const r of items) validateRecipient(r);
  return [...new Set(items)];
}

export function validateRecipient(r: string): void {
  if (r.startsWith("ssh-")) throw invalidRecipient(r, "ssh recipients are not supported by boot-meta yet; use an age key");
  if (!r.startsWith("age1")) throw invalidRecipient(r, "it does not start with age1");
  // Plugin recipients (age1<name>1…) need an external plugin binary sops would run.
  if (/^age1(?!pq1|tag1|tagpq1)[a-z0-9]+1/.test(r) && r.length !== 62) throw invalidRecipient(r, "age plugin recipients are not supported");
  try {
    new Encrypter().addRecipient(r);
  } catch (e) {
    throw invalidRecipient(r, (e as Error).message);
  }
}

/**
 * Wraps `data` (a 32-byte data key or a Shamir share) for one recipient, as sops stores it
 * in `enc`: a whole armored age file per recipient, with its trailing newline
 * (age/keysource.go:163-196).
 */
export async function wrapDataKey(data: Uint8Array, recipient: string): Promise<string> {
  const e = new Encrypter();
  try {
    e.addRecipient(recipient);
  } catch (err) {
    throw invalidRecipient(recipient, (err as Error).message);
  }
  return armor.encode(await e.encrypt(data));
}

const decrypters = new WeakMap<IdentitySet, Map<string, Decrypter>>();
const natives = new WeakMap<IdentitySet, Map<string, NativeX25519Identity>>();

function nativesOf(set: IdentitySet): Map<string, NativeX25519Identity> {
  let m = natives.get(set);
  if (!m) {
    m = new Map();
    set.identities.forEach((id, i) => {
      const n = nativeIdentity(id);
      if (n) m?.set(set.recipients[i] ?? `#${i}`, n);
    });
    natives.set(set, m);
  }
  return m;
}

/** One Decrypter per identity, built once per set: parsing keys is not free. */
function decryptersOf(set: IdentitySet): Map<string, Decrypter> {
  let m = decrypters.get(set);
  if (!m) {
    m = new Map();
    set.identities.forEach((id, i) => {
      const d = new Decrypter();
      d.addIdentity(id);
      m?.set(set.recipients[i] ?? `#${i}`, d);
    });
    decrypters.set(set, m);
  }
  return m;
}

/**
 * Unwraps an `enc` with the set's identities. Resolves `undefined` when none of them is a
 * recipient of it (the caller tries the next key); throws `SOPS_WRAPPED_KEY_CORRUPT` when
 * the armored file is malformed or its header fails authentication.
 */
export async function unwrapDataKey(enc: string, identities: IdentitySet, recipientHint?: string): Promise<Uint8Array | undefined> {
  let file: Uint8Array;
  try {
    file = armor.decode(enc);
  } catch (e) {
    throw corrupt(`it is not a valid armored age file (${(e as Error).message})`);
  }
  // Native X25519 first (a tenth of the time); anything else goes to the age-encryption package.
  const native = nativesOf(identities);
  if (native.size > 0) {
    const hinted = recipientHint ? native.get(recipientHint) : undefined;
    const r = decryptAgeX25519(file, hinted ? [hinted, ...[...native.values()].filter((n) => n !== hinted)] : [...native.values()]);
    if (r.kind === "ok") return r.data;
    if (r.kind === "corrupt") throw corrupt(r.why);
    if (r.kind === "not-mine" && native.size === identities.identities.length) return undefined;
  }
  const all = decryptersOf(identities);
  // The identity whose recipient the entry names first: one X25519 operation in the common case.
  const hinted = recipientHint ? all.get(recipientHint) : undefined;
  const order = hinted ? [hinted, ...[...all.values()].filter((d) => d !== hinted)] : [...all.values()];
  for (const d of order) {
    try {
      return await d.decrypt(file);
    } catch (e) {
      const msg = (e as Error).message;
      if (msg.includes("no identity matched")) continue;
      throw corrupt(msg);
    }
  }
  return undefined;
}

function corrupt(why: string): BootMetaError {
  return new BootMetaError("SOPS_WRAPPED_KEY_CORRUPT", `a wrapped data key in the sops metadata is damaged: ${why}`, ExitCode.CouldNotRetrieveKey, {
    suggestions: ["restore the file from git history; the `enc` entries of the sops section must not be edited"],
  });
}

/** A new age key pair (X25519, or the post-quantum hybrid). */
export async function generateAgeKey(opts: { postQuantum?: boolean } = {}): Promise<{ identity: string; recipient: string }> {
  const identity = opts.postQuantum ? await generateHybridIdentity() : await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}
