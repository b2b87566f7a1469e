import { randomBytes } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";
import { stanzasOf, unwrapDataKey, wrapDataKey } from "./age.js";
import { decryptValue, encryptValue, IvStash } from "./cipher.js";
import type { IdentitySet } from "./identities.js";
import {
  type AgeEntry,
  effectiveSelection,
  formatLastModified,
  type KeyGroup,
  type Metadata,
  parseMetadata,
  recipientsOf,
  serializeMetadata,
  SOPS_FORMAT_VERSION,
} from "./metadata.js";
import { unwrapPgp } from "./pgp.js";
import type { SelectionRule } from "./selection.js";
import { combine, split } from "./shamir.js";
import { type EmitOptions, type Format, storeFor } from "./formats/index.js";
import type { Tree } from "./tree.js";
import { decryptTree, encryptTree } from "./walk.js";

export interface KeyOptions {
  /** Age recipients per key group; one group is the common case. */
  keyGroups: string[][];
  /** With ≥2 groups: how many groups must open to rebuild the data key (default: all). */
  shamirThreshold?: number;
}

export interface EncryptOptions extends KeyOptions, EmitOptions {
  format: Format;
  /** Which values to encrypt; default `unencrypted_suffix: _unencrypted`, as sops. */
  selection?: SelectionRule;
  macOnlyEncrypted?: boolean;
  /** For messages. */
  path?: string;
  /** The clock, for `lastmodified` (tests pass a fixed one). */
  now?: () => Date;
  /** Changes the parsed plaintext tree before it is encrypted (boot-meta adds a file's path binding). */
  transform?: (tree: Tree) => Tree;
}

export interface OpenOptions {
  format: Format;
  identities: IdentitySet;
  /** Skip the MAC check, as `sops --ignore-mac` (for recovering a damaged file). */
  ignoreMac?: boolean;
  /** For messages: the file's path as the user knows it. */
  path?: string;
  /** PGP-wrapped files are opened through the `gpg` binary; false to never call gpg. */
  pgp?: false | { gnupgHome?: string; env?: NodeJS.ProcessEnv };
}

/** A decrypted file: its plaintext tree, its metadata, and what is needed to re-seal it. */
export interface OpenedFile {
  readonly format: Format;
  readonly tree: Tree;
  readonly metadata: Metadata;
  readonly path: string | undefined;
  /** @internal */ readonly dataKey: Uint8Array;
  /** @internal */ readonly stash: IvStash;
}

/**
 * A store's parse, with the path in any error it throws: the stores say "the file", and a
 * re-key over a hundred files must say which one.
 */
function named<T>(path: string | undefined, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (!path || !(e instanceof BootMetaError) || e.message.includes(path)) throw e;
    const message = e.message.startsWith("the file ") ? `${path} ${e.message.slice("the file ".length)}` : `${path}: ${e.message}`;
    throw new BootMetaError(e.code, message, e.exitCode, { data: { ...e.data, file: path }, suggestions: e.suggestions, cause: e.cause });
  }
}

function label(path: string | undefined): string {
  return path ?? "the file";
}

async function wrapGroups(dataKey: Uint8Array, o: KeyOptions, path?: string, reuse?: Metadata): Promise<{ groups: KeyGroup[]; threshold: number }> {
  const groups = o.keyGroups.filter((g) => g.length > 0);
  if (groups.length === 0) {
    throw new BootMetaError("SOPS_NO_RECIPIENTS", `cannot encrypt ${label(path)}: no age recipients were given`, ExitCode.NoMatchingCreationRules, {
      suggestions: ["pass --age age1…, set SOPS_AGE_RECIPIENTS, or add a creation rule with age recipients to .sops.yaml"],
    });
  }
  const threshold = groups.length === 1 ? 0 : o.shamirThreshold && o.shamirThreshold > 0 ? Math.min(o.shamirThreshold, groups.length) : groups.length;
  // sops.go:761-875: one group wraps the whole key; several groups each wrap one Shamir share.
  const secrets = groups.length === 1 ? [dataKey] : split(dataKey, groups.length, threshold);
  // An unchanged single-group recipient keeps its wrapped key: same data key, smaller git diff.
  const old = new Map<string, string>();
  if (reuse && groups.length === 1 && reuse.keyGroups.length === 1) for (const a of reuse.keyGroups[0]?.age ?? []) old.set(a.recipient, a.enc);
  const out = await Promise.all(
    groups.map(async (recipients, i) => ({
      age: await Promise.all(recipients.map(async (recipient): Promise<AgeEntry> => ({ recipient, enc: old.get(recipient) ?? (await wrapDataKey(secrets[i] as Uint8Array, recipient)) }))),
      pgp: [],
      other: {},
    })),
  );
  return { groups: out, threshold };
}

/** Encrypts a plaintext file (any store) to the given recipients: sops `encrypt`. */
export async function encryptBytes(plain: Uint8Array, o: EncryptOptions): Promise<Uint8Array> {
  const store = storeFor(o.format);
  const parsed = named(o.path, () => store.loadPlain(plain, { file: o.path }));
  if (store.hasMetadata(parsed)) {
    throw new BootMetaError("SOPS_ALREADY_ENCRYPTED", `${label(o.path)} is already encrypted (it has sops metadata)`, ExitCode.FileAlreadyEncrypted, {
      suggestions: ["use `boot-meta edit`, `set` or `rotate` on an encrypted file"],
    });
  }
  const tree = o.transform ? o.transform(parsed) : parsed;
  if (tree.length === 0) {
    throw new BootMetaError("SOPS_EMPTY_FILE", `${label(o.path)} is empty: there is nothing to encrypt`, ExitCode.EmptyFile);
  }
  const dataKey = randomBytes(32);
  const { groups, threshold } = await wrapGroups(dataKey, o, o.path);
  // The binary store drops every selection rule and writes none (cmd/sops/main.go:2152-2182).
  const selection = o.format === "binary" ? undefined : (o.selection ?? { kind: "unencrypted_suffix", value: "_unencrypted" });
  const metadata: Metadata = {
    keyGroups: groups,
    shamirThreshold: threshold,
    lastModified: "",
    mac: "",
    selection,
    macOnlyEncrypted: o.macOnlyEncrypted === true,
    version: SOPS_FORMAT_VERSION,
  };
  return seal(o.format, tree, metadata, dataKey, new IvStash(), { indent: o.indent, now: o.now });
}

function seal(format: Format, tree: Tree, metadata: Metadata, dataKey: Uint8Array, stash: IvStash, o: { indent?: number; now?: () => Date }): Uint8Array {
  const { tree: encrypted, mac } = encryptTree(tree, {
    key: dataKey,
    selection: effectiveSelection(metadata),
    macOnlyEncrypted: metadata.macOnlyEncrypted,
    stash,
  });
  // common.go:121-132: a fresh lastmodified on every write, and the MAC sealed with it as AAD.
  const lastModified = formatLastModified((o.now ?? (() => new Date()))());
  const sealed: Metadata = { ...metadata, lastModified, mac: encryptValue(mac, dataKey, lastModified) };
  return storeFor(format).emitEncrypted(encrypted, serializeMetadata(sealed), { indent: o.indent });
}

/**
 * Opens an encrypted file: unwraps the data key with the reader's identities, decrypts every
 * value and checks the MAC. Throws `SOPS_DATA_KEY_UNAVAILABLE` (the file's recipients and
 * where identities were looked for in `data`), `SOPS_MAC_MISMATCH`, `SOPS_VALUE_AUTH_FAILED`…
 */
export async function openBytes(bytes: Uint8Array, o: OpenOptions): Promise<OpenedFile> {
  const loaded = named(o.path, () => storeFor(o.format).loadEncrypted(bytes, { file: o.path }));
  return openParsed({ format: o.format, tree: loaded.tree, metadata: parseMetadata(loaded.metadata, o.path) }, o);
}

/** An encrypted file parsed (not decrypted): what {@link inspectParsed} and {@link openParsed} take, so a file both inspected and opened is parsed once. */
export interface ParsedSops {
  readonly format: Format;
  /** The encrypted tree (values still `ENC[…]` where encrypted). */
  readonly tree: Tree;
  readonly metadata: Metadata;
}

/** Parses an encrypted file and its metadata; throws as {@link openBytes} does for a file that is not a sops file. */
export function parseSopsBytes(bytes: Uint8Array, format: Format, path?: string): ParsedSops {
  const loaded = named(path, () => storeFor(format).loadEncrypted(bytes));
  return { format, tree: loaded.tree, metadata: parseMetadata(loaded.metadata, path) };
}

/** {@link openBytes} of a file already parsed (`o.format` must be the one it was parsed as). */
export async function openParsed(p: ParsedSops, o: OpenOptions): Promise<OpenedFile> {
  const { metadata } = p;
  const dataKey = await dataKeyOf(metadata, o);
  const stash = new IvStash();
  const { tree, mac } = decryptTree(p.tree, {
    key: dataKey,
    selection: effectiveSelection(metadata),
    macOnlyEncrypted: metadata.macOnlyEncrypted,
    stash,
    rawStrings: o.format === "binary",
    file: o.path,
  });
  if (!o.ignoreMac) checkMac(metadata, dataKey, mac, o.path);
  return { format: o.format, tree, metadata, path: o.path, dataKey, stash };
}

function checkMac(m: Metadata, dataKey: Uint8Array, computed: string, path?: string): void {
  const fail = (why: string) =>
    new BootMetaError("SOPS_MAC_MISMATCH", `${label(path)} failed its integrity check: ${why}. It was modified outside sops/boot-meta, or damaged`, ExitCode.MacMismatch, {
      data: path ? { file: path } : {},
      suggestions: ["restore it from git history (`git log -p -- FILE`)", "to read it anyway, pass --ignore-mac"],
    });
  if (m.mac === "") throw fail("it has no MAC");
  let stored: string;
  try {
    // The MAC's AAD is the lastmodified string (common.go:85-108).
    stored = String(decryptValue(m.mac, dataKey, m.lastModified, { where: "sops.mac" }));
  } catch {
    throw fail("its MAC or lastmodified was altered");
  }
  if (stored !== computed) throw fail("the values do not match the MAC");
}

function allRecipients(m: Metadata): string[] {
  return m.keyGroups.flatMap((g) => [...g.age.map((a) => a.recipient), ...g.pgp.map((p) => `pgp:${p.fp}`)]);
}

async function unwrapGroup(g: KeyGroup, o: OpenOptions, problems: string[]): Promise<Uint8Array | undefined> {
  const mine = new Set(o.identities.recipients);
  // Entries whose recipient the reader holds first: one X25519 unwrap in the common case.
  const ordered = [...g.age.filter((a) => mine.has(a.recipient)), ...g.age.filter((a) => !mine.has(a.recipient))];
  for (const a of ordered) {
    const key = await unwrapDataKey(a.enc, o.identities, a.recipient);
    if (key) return key;
  }
  // SOPS_DECRYPTION_ORDER default is age then pgp (sops.go:66).
  if (o.pgp !== false) {
    for (const p of g.pgp) {
      // A missing gpg or a locked key is not "not a recipient": say so in the refusal.
      const key = await unwrapPgp(p.enc, o.pgp ?? {}).catch((e: unknown) => {
        problems.push(`pgp ${p.fp}: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      });
      if (key) return key;
    }
  }
  return undefined;
}

async function dataKeyOf(m: Metadata, o: OpenOptions): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const problems: string[] = [];
  for (const g of m.keyGroups) {
    const part = await unwrapGroup(g, o, problems);
    if (part) parts.push(part);
    if (m.keyGroups.length === 1 && part) break;
  }
  const need = m.keyGroups.length === 1 ? 1 : m.shamirThreshold || m.keyGroups.length;
  if (parts.length < need) {
    const recipients = allRecipients(m);
    const searched = o.identities.searched.map((s) => `${s.source.kind === "explicit" ? "" : `${s.source.kind}=`}${s.source.where}${s.error ? ` (${s.error})` : s.found === 0 ? " (no keys)" : ""}`);
    const groupsNote = m.keyGroups.length > 1 ? ` (${parts.length} of the ${need} key groups needed could be opened)` : "";
    throw new BootMetaError(
      "SOPS_DATA_KEY_UNAVAILABLE",
      `cannot decrypt ${label(o.path)}: it is encrypted to ${recipients.join(", ")}; none of your identities (${o.identities.recipients.join(", ") || "none found"}) can open it${groupsNote}`,
      ExitCode.CouldNotRetrieveKey,
      {
        data: { file: o.path, recipients, yourRecipients: [...o.identities.recipients], searched, problems },
        suggestions: [
          ...problems,
          searched.length ? `identities were looked for in: ${searched.join("; ")}` : "no identities were found: set SOPS_AGE_KEY_FILE or put your key in ~/.config/sops/age/keys.txt",
          "ask an admin to add your public key to this file's recipients",
        ],
      },
    );
  }
  const key = m.keyGroups.length === 1 ? parts[0] : combine(parts);
  if (!key || key.length !== 32) {
    throw new BootMetaError("SOPS_WRAPPED_KEY_CORRUPT", `cannot decrypt ${label(o.path)}: the unwrapped data key is ${key?.length ?? 0} bytes, not 32`, ExitCode.CouldNotRetrieveKey);
  }
  return key;
}

/**
 * Unwraps a file's data key with the reader's identities, without decrypting any value (an
 * admin telling whether two files share a data key). Throws as {@link openBytes} does.
 * @internal
 */
export async function dataKeyOfBytes(bytes: Uint8Array, o: OpenOptions): Promise<Uint8Array> {
  const loaded = named(o.path, () => storeFor(o.format).loadEncrypted(bytes));
  return dataKeyOf(parseMetadata(loaded.metadata, o.path), o);
}

/** Decrypts a file to its plaintext in the same store (sops `decrypt`). */
export async function decryptBytes(bytes: Uint8Array, o: OpenOptions & EmitOptions & { outputFormat?: Format }): Promise<Uint8Array> {
  const f = await openBytes(bytes, o);
  return storeFor(o.outputFormat ?? o.format).emitPlain(f.tree, { indent: o.indent });
}

export interface SealOptions extends EmitOptions {
  now?: () => Date;
  /** `edit` records the writing version when it is newer (edit.go:284-290); set/unset do not. */
  bumpVersion?: boolean;
  format?: Format;
}

/**
 * Re-encrypts an opened file after its tree was changed: same data key and recipients, and
 * every value whose path and plaintext did not change keeps its exact ciphertext.
 */
export function sealBytes(f: OpenedFile, tree: Tree, o: SealOptions = {}): Uint8Array {
  const version = o.bumpVersion && newerThan(SOPS_FORMAT_VERSION, f.metadata.version) ? SOPS_FORMAT_VERSION : f.metadata.version || SOPS_FORMAT_VERSION;
  return seal(o.format ?? f.format, tree, { ...f.metadata, version }, f.dataKey, f.stash, o);
}

function newerThan(a: string, b: string): boolean {
  const p = (v: string) => (/^v?(\d+)\.(\d+)\.(\d+)/.exec(v) ?? []).slice(1).map(Number);
  const [x, y] = [p(a), p(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return false;
}

export interface UpdateKeysResult {
  bytes: Uint8Array;
  changed: boolean;
  added: string[];
  removed: string[];
}

/**
 * Re-wraps the data key for a new set of recipients (sops `updatekeys`): values, `mac` and
 * `lastmodified` are untouched, so readers removed here can still open old copies in git
 * history (use rotate for that). Needs an identity that opens the file.
 */
export async function updateKeysBytes(bytes: Uint8Array, o: KeyOptions & EmitOptions & { format: Format; identities: IdentitySet; path?: string; pgp?: OpenOptions["pgp"] }): Promise<UpdateKeysResult> {
  const store = storeFor(o.format);
  const loaded = named(o.path, () => store.loadEncrypted(bytes, { file: o.path }));
  const metadata = parseMetadata(loaded.metadata, o.path);
  const before = recipientsOf(metadata);
  const target = o.keyGroups.filter((g) => g.length > 0);
  const flatBefore = new Set(before.flat());
  const flatAfter = new Set(target.flat());
  const added = [...flatAfter].filter((r) => !flatBefore.has(r));
  const removed = [...flatBefore].filter((r) => !flatAfter.has(r));
  // Order-only changes are not a change (sops issue #2269): compare per group as sets.
  const same = before.length === target.length && before.every((g, i) => sameSet(g, target[i] ?? [])) && metadata.keyGroups.every((g) => g.pgp.length === 0);
  if (same) return { bytes, changed: false, added: [], removed: [] };
  const dataKey = await dataKeyOf(metadata, { format: o.format, identities: o.identities, path: o.path, pgp: o.pgp });
  const { groups, threshold } = await wrapGroups(dataKey, { keyGroups: target, shamirThreshold: o.shamirThreshold ?? metadata.shamirThreshold }, o.path, metadata);
  const next: Metadata = { ...metadata, keyGroups: groups, shamirThreshold: threshold };
  return { bytes: store.emitEncrypted(loaded.tree, serializeMetadata(next), { indent: o.indent }), changed: true, added, removed };
}

function sameSet(a: string[], b: string[]): boolean {
  const s = new Set(a);
  return a.length === b.length && b.every((x) => s.has(x));
}

/**
 * Makes a new data key and re-encrypts every value with it (sops `rotate`), optionally for a
 * new set of recipients: a reader removed here can open nothing written from now on.
 */
export async function rotateBytes(bytes: Uint8Array, o: Partial<KeyOptions> & EmitOptions & OpenOptions & { now?: () => Date }): Promise<Uint8Array> {
  const f = await openBytes(bytes, o);
  const dataKey = randomBytes(32);
  const keyGroups = o.keyGroups ?? recipientsOf(f.metadata);
  const { groups, threshold } = await wrapGroups(dataKey, { keyGroups, shamirThreshold: o.shamirThreshold ?? f.metadata.shamirThreshold }, o.path);
  return seal(f.format, f.tree, { ...f.metadata, keyGroups: groups, shamirThreshold: threshold }, dataKey, f.stash, o);
}

/** The age recipients of each key group, read from the metadata without decrypting. */
export function readRecipients(bytes: Uint8Array, format: Format, path?: string): string[][] {
  const loaded = named(path, () => storeFor(format).loadEncrypted(bytes, { file: path }));
  return recipientsOf(parseMetadata(loaded.metadata, path));
}

/** sops `filestatus`: encrypted when the metadata has a MAC and a version. */
export function fileStatus(bytes: Uint8Array, format: Format): { encrypted: boolean } {
  try {
    const loaded = storeFor(format).loadEncrypted(bytes);
    const m = parseMetadata(loaded.metadata);
    return { encrypted: m.mac !== "" && m.version !== "" };
  } catch {
    return { encrypted: false };
  }
}

/** What an encrypted file is really wrapped to, read from its metadata without any key. */
export interface KeyInspection {
  groups: {
    /** Each age entry: its `recipient` label and the stanzas its `enc` really holds. */
    age: { recipient: string; stanzas: string[] }[];
    /** PGP fingerprints. */
    pgp: string[];
    /** Other master key kinds present (kms, gcp_kms, azure_kv, hc_vault, hckms), with their count. */
    other: Record<string, number>;
  }[];
  shamirThreshold: number;
  macOnlyEncrypted: boolean;
  selection: SelectionRule | undefined;
  /** The encrypted tree (values still `ENC[…]` where encrypted). */
  tree: Tree;
}

/**
 * Reads an encrypted file's key metadata without decrypting: every key group, every age
 * entry with the stanzas it holds, PGP and other master keys. Throws as `openBytes` does for
 * a file that is not a sops file; an `enc` that is not an age file shows as no stanzas.
 */
export function inspectBytes(bytes: Uint8Array, format: Format, path?: string): KeyInspection {
  return inspectParsed(parseSopsBytes(bytes, format, path));
}

/** {@link inspectBytes} of a file already parsed. */
export function inspectParsed(p: ParsedSops): KeyInspection {
  return inspectMetadata(p.metadata, p.tree);
}

/** {@link inspectBytes} for metadata already parsed (an opened file's, say). */
export function inspectMetadata(m: Metadata, tree: Tree): KeyInspection {
  return {
    groups: m.keyGroups.map((g) => ({
      age: g.age.map((a) => {
        let stanzas: string[];
        try {
          stanzas = stanzasOf(a.enc);
        } catch {
          stanzas = [];
        }
        return { recipient: a.recipient, stanzas };
      }),
      pgp: g.pgp.map((p) => p.fp),
      other: Object.fromEntries(Object.entries(g.other).map(([k, l]) => [k, l.length])),
    })),
    shamirThreshold: m.shamirThreshold,
    macOnlyEncrypted: m.macOnlyEncrypted,
    selection: m.selection,
    tree,
  };
}

/**
 * Re-seals an opened (MAC-checked) file with a new tree and/or new recipients in one step.
 * With `newDataKey` every value is re-encrypted under a fresh data key and every recipient
 * gets a fresh wrap (a rotation: nothing of the old key material is kept); without it the
 * data key stays, unchanged values keep their ciphertext, and recipients that stay keep
 * their wrapped key only when `reuseWraps` is set (the caller has checked those wraps).
 */
export async function resealBytes(
  f: OpenedFile,
  o: SealOptions & { tree?: Tree; keyGroups?: string[][]; shamirThreshold?: number; newDataKey?: boolean; reuseWraps?: boolean },
): Promise<Uint8Array> {
  const keyGroups = o.keyGroups ?? recipientsOf(f.metadata);
  const dataKey = o.newDataKey ? randomBytes(32) : f.dataKey;
  const reuse = !o.newDataKey && o.reuseWraps ? f.metadata : undefined;
  const { groups, threshold } = await wrapGroups(dataKey, { keyGroups, shamirThreshold: o.shamirThreshold ?? f.metadata.shamirThreshold }, f.path, reuse);
  const metadata: Metadata = { ...f.metadata, keyGroups: groups, shamirThreshold: threshold };
  return seal(o.format ?? f.format, o.tree ?? f.tree, metadata, dataKey, o.newDataKey ? new IvStash() : f.stash, o);
}
