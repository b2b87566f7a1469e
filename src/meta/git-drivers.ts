import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { isBootMetaError } from "../errors.js";
import { inspectBytes, openBytes, type OpenedFile, resealBytes, sealBytes } from "../sops/engine.js";
import type { IdentitySet } from "../sops/identities.js";
import { type Format, formatForPath, storeFor } from "../sops/formats/index.js";
import { recipientsOf as fileRecipients } from "../sops/metadata.js";
import { Branch, Comment, SopsTime, type Tree, type Value } from "../sops/tree.js";
import { bindingMismatch, openedBinding } from "./binding.js";
import { execa } from "./git.js";
import { KEYS_DIR, META_CONFIG } from "./layout.js";
import { expectedAccess, principalsOf, type RepoState } from "./model.js";
import { withReader } from "./reader.js";
import { readState } from "./state.js";
import { trustedView } from "./verify.js";

/**
 * Git drivers for SOPS files (issue 14): a textconv that shows a reader the decrypted document
 * and anyone else an honest line plus the masked structure, and a merge driver that merges the
 * decrypted trees value by value. sops' oldest complaints (getsops/sops #52, #1117) are that
 * `git diff` shows ciphertext and that two branches touching one file always conflict on
 * `mac` and `lastmodified`: here both are recomputed on the merged tree, never compared.
 *
 * Neither driver ever writes plaintext to disk: textconv prints to git's pipe, and a merge
 * that cannot be done on decrypted trees falls back to git's own line merge of the ciphertext.
 */

/** The rules at HEAD, or undefined outside a meta repository (names then fall back to keys). */
async function stateAt(repoDir: string): Promise<RepoState | undefined> {
  try {
    return await withReader(repoDir, undefined, readState);
  } catch {
    return undefined;
  }
}

const short = (r: string) => (r.length > 24 ? `${r.slice(0, 12)}…${r.slice(-8)}` : r);

function names(state: RepoState | undefined, recipients: readonly string[]): string[] {
  if (!state) return recipients.map(short);
  return principalsOf(state, [...recipients]);
}

/** Who the reader is, in the rules' words: principals holding one of its keys, else its keys. */
function whoAmI(state: RepoState | undefined, identities: IdentitySet): string {
  if (identities.recipients.length === 0) return "you have no age identity";
  const mine = new Set(identities.recipients);
  const principals = state ? [...state.keys].filter(([, ks]) => ks.some((k) => mine.has(k))).map(([n]) => n).sort() : [];
  return `you are ${principals.length ? principals.join(", ") : identities.recipients.map(short).join(", ")}`;
}

const ENC = /^ENC\[AES256_GCM,/;

/** The tree with every encrypted value replaced by a short digest of its ciphertext (public already): a diff still shows which values changed. */
function masked(v: Value): Value {
  if (v instanceof Branch) return new Branch(v.items.map((i) => ("key" in i ? { key: i.key, value: masked(i.value) } : i)));
  if (Array.isArray(v)) return v.map(masked);
  if (typeof v === "string" && ENC.test(v)) return `<encrypted ${createHash("sha256").update(v).digest("hex").slice(0, 8)}>`;
  if (v instanceof Comment && ENC.test(v.text)) return new Comment(" <encrypted comment>", v.inline);
  return v;
}

export interface TextconvOptions {
  identities: IdentitySet;
  /** The repository git runs in (its rules name the recipients); default the cwd. */
  repoDir?: string;
}

/**
 * What `git diff` shows for one version of a file (git's `textconv`): the decrypted document in
 * its own format for a reader whose identity opens it; for anyone else one line saying whom it
 * is encrypted to and who the reader is, then the document with values masked. Anything that is
 * not a SOPS file, or that fails to open for another reason, is returned as it is. Never throws.
 */
export async function textconv(bytes: Uint8Array, path: string, o: TextconvOptions): Promise<Uint8Array> {
  const format = formatForPath(path);
  let loaded;
  try {
    loaded = inspectBytes(bytes, format, path);
  } catch {
    return bytes; // not a SOPS file (or malformed): git shows it as it is
  }
  try {
    const f = await openBytes(bytes, { format, identities: o.identities, path, pgp: false });
    return storeFor(format).emitPlain(f.tree);
  } catch (e) {
    const state = await stateAt(o.repoDir ?? process.cwd());
    const recipients = loaded.groups.flatMap((g) => g.age.map((a) => a.recipient));
    const why = isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE") ? "no key opens it" : `it did not open: ${isBootMetaError(e, "SOPS_MAC_MISMATCH") ? "its MAC does not match" : "it is damaged"}`;
    const head = `# encrypted to ${names(state, recipients).join(", ") || "nobody"}; ${whoAmI(state, o.identities)} (${why})\n`;
    let body: Uint8Array;
    try {
      body = format === "binary" ? new Uint8Array() : storeFor(format).emitPlain(loaded.tree.map((b) => masked(b) as Branch));
    } catch {
      body = new Uint8Array();
    }
    return Buffer.concat([Buffer.from(head, "utf8"), body]);
  }
}

/** A value's identity for comparison: type and text, so `1` (int) and `"1"` differ as sops' `type:` tags do. */
function canon(v: Value | undefined): string {
  const walk = (x: Value): unknown => {
    if (x instanceof Branch) return ["m", x.items.flatMap((i) => ("key" in i ? [[i.key, walk(i.value)]] : []))];
    if (Array.isArray(x)) return ["l", x.map(walk)];
    if (typeof x === "bigint") return ["i", String(x)];
    if (x instanceof Comment) return ["c", x.text];
    if (x instanceof SopsTime) return ["t", x.text];
    if (x instanceof Uint8Array) return ["b", Buffer.from(x).toString("base64")];
    return [typeof x, x];
  };
  return v === undefined ? "absent" : JSON.stringify(walk(v));
}

/** A value as the text of one side of a conflict inside a value. */
function sideText(v: Value | undefined, format: Format): string {
  if (v === undefined) return "";
  if (typeof v === "string") return v;
  const store = storeFor(format === "binary" ? "yaml" : format);
  return Buffer.from(v instanceof Branch ? store.emitPlain([v]) : store.emitValue(v))
    .toString("utf8")
    .replace(/\n$/, "");
}

/** The conflict written as the value itself (then encrypted like any value): git's markers, one side each. */
export function conflictValue(ours: string, theirs: string): string {
  return `<<<<<<< ours\n${ours}\n=======\n${theirs}\n>>>>>>> theirs`;
}

interface MergeState {
  conflicts: string[];
  format: Format;
}

/** Three-way merge of one map: keys in ours' order, then keys only theirs added, in theirs' order. */
function mergeBranch(base: Branch | undefined, ours: Branch, theirs: Branch, at: string, m: MergeState): Branch {
  const out: Branch["items"] = [];
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const i of ours.items) {
    if ("key" in i) {
      keys.push(i.key);
      seen.add(i.key);
      const v = mergeValue(base?.get(i.key), i.value, theirs.has(i.key) ? theirs.get(i.key) : undefined, `${at}${i.key}`, m);
      if (v !== undefined) out.push({ key: i.key, value: v });
    } else out.push(i);
  }
  for (const i of theirs.items) {
    if (!("key" in i) || seen.has(i.key)) continue;
    const v = mergeValue(base?.get(i.key), undefined, i.value, `${at}${i.key}`, m);
    if (v !== undefined) out.push({ key: i.key, value: v });
  }
  return new Branch(out);
}

function mergeValue(base: Value | undefined, ours: Value | undefined, theirs: Value | undefined, at: string, m: MergeState): Value | undefined {
  const [b, o, t] = [canon(base), canon(ours), canon(theirs)];
  if (o === t) return ours;
  if (b === o) return theirs;
  if (b === t) return ours;
  if (ours instanceof Branch && theirs instanceof Branch) return mergeBranch(base instanceof Branch ? base : undefined, ours, theirs, `${at}.`, m);
  m.conflicts.push(at);
  return conflictValue(sideText(ours, m.format), sideText(theirs, m.format));
}

/** Merges three decrypted documents; undefined when their document counts differ (no value-wise answer). */
export function mergeTrees(base: Tree, ours: Tree, theirs: Tree, format: Format): { tree: Tree; conflicts: string[] } | undefined {
  if (ours.length !== theirs.length || (base.length !== 0 && base.length !== ours.length)) return undefined;
  const m: MergeState = { conflicts: [], format };
  const tree = ours.map((doc, i) => mergeBranch(base[i], doc, theirs[i] as Branch, "", m));
  return { tree, conflicts: m.conflicts };
}

export interface MergeFileOptions {
  identities: IdentitySet;
  repoDir?: string;
  /**
   * The commit signed history is verified from (BOOT_META_TRUST_ROOT, the bootstrap file's
   * trust-root): a merge that must re-key refuses when the rules or keys/ carry a change no
   * allowed signer made.
   */
  trustRoot?: string;
  /** For the fallback: the conflict labels git would use. */
  labels?: [ours: string, base: string, theirs: string];
}

export interface MergeFileResult {
  /** `value-wise`: merged on decrypted trees; `git`: handed to `git merge-file` (not a SOPS file, or not a reader). */
  how: "value-wise" | "git";
  /** Dotted paths of values both sides changed (value-wise), written as conflict markers inside the value. */
  conflicts: string[];
  /** The exit code git expects of a merge driver: 0 merged cleanly, anything else a conflict. */
  exitCode: number;
  /** Why the value-wise merge was not done, when it was not. */
  reason?: string;
}

/**
 * git's merge driver for SOPS files (`merge.boot-meta.driver`): merges `theirs` and `base` into
 * `oursFile` in place, as git asks of a driver (%A holds the result). Each side is opened with
 * the reader's identities and merged value by value; the result is sealed with ours' data key
 * when its recipients are those the rules give `path` (unchanged values keep their ciphertext;
 * `mac` and `lastmodified` are recomputed), else with a new data key to the rules' recipients —
 * never to either side's. A value both sides changed becomes git's conflict markers inside that
 * value (encrypted like any value) and the exit code says conflict. When any side is not a SOPS
 * file or does not open (no key, a bad MAC), git's own `git merge-file` merges the bytes: for a
 * non-reader that is a normal conflict of ciphertext lines, and no plaintext is ever written.
 */
export async function mergeFile(baseFile: string, oursFile: string, theirsFile: string, path: string, o: MergeFileOptions): Promise<MergeFileResult> {
  const fallback = async (reason: string): Promise<MergeFileResult> => {
    const [ours, base, theirs] = o.labels ?? ["ours", "base", "theirs"];
    const r = await execa("git", ["merge-file", "-L", ours, "-L", base, "-L", theirs, "--", oursFile, baseFile, theirsFile], { cwd: o.repoDir, reject: false });
    // git merge-file exits with the number of conflicts, negative (255) on an error.
    return { how: "git", conflicts: [], exitCode: r.exitCode === 0 ? 0 : Math.max(1, Math.min(r.exitCode ?? 1, 127)), reason };
  };
  const format = formatForPath(path);
  if (format === "binary") return fallback("not a YAML, JSON, dotenv or INI file");
  const [base, ours, theirs] = await Promise.all([baseFile, oursFile, theirsFile].map((f) => readFile(f)));
  const open = (bytes: Buffer) => openBytes(new Uint8Array(bytes), { format, identities: o.identities, path, pgp: false });
  let fo: OpenedFile;
  let ft: OpenedFile;
  let baseTree: Tree;
  try {
    [fo, ft] = [await open(ours as Buffer), await open(theirs as Buffer)];
    // An empty base: both sides added the file.
    baseTree = base?.length ? (await open(base)).tree : [];
  } catch (e) {
    return fallback(isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE") ? "no identity of yours opens it" : isBootMetaError(e, "SOPS_NOT_ENCRYPTED") ? "not a SOPS file" : "a side did not open");
  }
  const merged = mergeTrees(baseTree, fo.tree, ft.tree, format);
  if (!merged) return fallback("the sides have different numbers of documents");
  const state = await stateAt(o.repoDir ?? process.cwd());
  const want = state ? expectedAccess(state, path)?.recipients : undefined;
  const now = fileRecipients(fo.metadata);
  const same = want === undefined || want.length === 0 || (now.length === 1 && sameSet(now[0] ?? [], want));
  if (!same) {
    // A re-key acts on the rules, so it must not be a hostile writer's deputy (access.ts): not for
    // a ciphertext written for another path, nor on rules or keys no allowed signer wrote.
    const bound = openedBinding(fo);
    if (bound !== undefined && bound !== path) return fallback(bindingMismatch(path, bound).message);
    if (o.trustRoot) {
      const view = await trustedView(o.repoDir ?? process.cwd(), { root: o.trustRoot });
      const untrusted = [...view.tainted.keys()].filter((p) => p === META_CONFIG || p.startsWith(`${KEYS_DIR}/`));
      if (untrusted.length) return fallback(`its recipients would change, and ${untrusted.join(", ")} carry changes no allowed signer made`);
    }
  }
  // Recipients from the rules: ours' data key only when ours is already exactly theirs to read;
  // otherwise a fresh data key, so nobody the rules dropped can open what the merge writes.
  const bytes = same ? sealBytes(fo, merged.tree) : await resealBytes(fo, { tree: merged.tree, keyGroups: [want ?? []], newDataKey: true });
  await writeFile(oursFile, bytes);
  return { how: "value-wise", conflicts: merged.conflicts, exitCode: merged.conflicts.length ? 1 : 0 };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const s = new Set(a);
  return a.length === b.length && b.every((x) => s.has(x));
}
