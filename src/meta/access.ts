import { createHash } from "node:crypto";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { expectedStanza } from "../sops/age.js";
import { dataKeyOfBytes, inspectMetadata, inspectParsed, type KeyInspection, type OpenedFile, openParsed, type ParsedSops, parseSopsBytes, resealBytes, updateKeysBytes } from "../sops/engine.js";
import type { IdentitySet } from "../sops/identities.js";
import { type Format, formatForPath } from "../sops/formats/index.js";
import { bindingIn, bindingMismatch, openedBinding, withBinding } from "./binding.js";
import { Git } from "./git.js";
import { KEYS_DIR, META_CONFIG, parseGovernedPath, SEALABLE_DIRS, SEALED_SUFFIX, SOPS_CONFIG, validateName } from "./layout.js";
import { expectedAccess, principalsOf, recipientsOf, renderSopsYaml, type RepoState, sealedReaders } from "./model.js";
import { type Reader, withReader } from "./reader.js";
import { type Writers, writersOf, writersOfArea } from "./policy.js";
import { readState } from "./state.js";
import type { Tx } from "./commit.js";

/**
 * Who reads what, and keeping every encrypted file to it.
 *
 * A hostile writer — someone who can push to the meta repo but is not a reader of a path —
 * can shape any file with plain git: copy a ciphertext to a path with more readers, relabel
 * its recipients, add a stanza of their own, delete a plain field. Nothing here trusts a
 * file's location, a `recipient:` label or a plain field: a re-key that would give anyone
 * access first opens the file (its MAC checked) and checks the path binding under that MAC
 * (binding.ts); what a check cannot vouch for is drift that a human resolves.
 */

/** An encrypted file the access rules govern, as far as it can be read without a key. */
export interface Governed {
  path: string;
  format: Format;
  /** A sealed record (`*.sops.json` in a record directory) rather than a config file. */
  sealed: boolean;
  /** The principals the rules give it, and their recipients. */
  readers: string[];
  want: string[];
  missingKeys: string[];
  /** The recipients its entries are labelled with (sorted); undefined when it is not a SOPS file. */
  now: string[] | undefined;
  error?: unknown;
  /** What is wrong, as seen without a key: `keyIssues` then the binding's. */
  problems: string[];
  /** What its key metadata holds that the rules did not ask for (several stanzas, other key kinds, …). */
  keyIssues: string[];
  /** The path binding as stated in the clear (undefined: none; `encrypted`: only a reader can see it). */
  binding: string | undefined | { encrypted: true };
  /** The env a sealed record names in the clear (unverified until it is opened). */
  sealedEnv?: string;
}

const isGovernedFormat = (f: Format) => f === "yaml" || f === "json";

/** What a file's key metadata shows that the rules did not ask for. */
function keyProblems(s: RepoState, k: KeyInspection): string[] {
  const out: string[] = [];
  const who = (r: string) => principalsOf(s, [r]).join(", ");
  if (k.groups.length !== 1) out.push(`it has ${k.groups.length} key groups${k.shamirThreshold ? ` (Shamir threshold ${k.shamirThreshold})` : ""}; the rules give one`);
  const seen = new Set<string>();
  for (const g of k.groups) {
    for (const a of g.age) {
      if (seen.has(a.recipient)) out.push(`the recipient ${who(a.recipient)} has more than one entry`);
      seen.add(a.recipient);
      if (a.stanzas.length !== 1) out.push(`the entry labelled ${who(a.recipient)} holds ${a.stanzas.length} age stanzas (${a.stanzas.join(", ") || "none readable"}): its data key may be wrapped to someone else too`);
      else {
        const expected = expectedStanza(a.recipient);
        if (expected && a.stanzas[0] !== expected) out.push(`the entry labelled ${who(a.recipient)} is wrapped as ${a.stanzas[0]}, not to that recipient (${expected})`);
      }
    }
    for (const fp of g.pgp) out.push(`a PGP key (${fp}) that no rule asks for`);
    for (const [kind, n] of Object.entries(g.other)) out.push(`${n} ${kind} key(s) that no rule asks for`);
  }
  if (k.macOnlyEncrypted) out.push("mac_only_encrypted is set: its plain values, the path binding among them, are not covered by its MAC");
  return out;
}

function bindingProblem(path: string, binding: Governed["binding"]): string | undefined {
  if (binding === undefined) return "it is not bound to its path yet (an admin's `boot-meta access sync` binds it)";
  if (typeof binding === "string" && binding !== path) return `it was written for ${binding}: its ciphertext was copied or moved here`;
  return undefined;
}

/** The recipients a file's age entries are labelled with (sorted). */
const labelsOf = (k: KeyInspection): string[] => k.groups.flatMap((g) => g.age.map((a) => a.recipient)).sort();

function inspect(s: RepoState, path: string, format: Format, bytes: Uint8Array): Pick<Governed, "now" | "error" | "problems" | "keyIssues" | "binding"> & { tree?: KeyInspection["tree"]; parsed?: ParsedSops } {
  try {
    const parsed = parseSopsBytes(bytes, format, path);
    const k = inspectParsed(parsed);
    const binding = bindingIn(k.tree);
    const keyIssues = keyProblems(s, k);
    // A dotenv, INI or binary file cannot carry a binding: it is checked like any other, and
    // a re-key never widens it (rekey says so when it would have to).
    const b = isGovernedFormat(format) ? bindingProblem(path, binding) : undefined;
    return { now: labelsOf(k), problems: b ? [...keyIssues, b] : keyIssues, keyIssues, binding, tree: k.tree, parsed };
  } catch (error) {
    const why = `it is not a SOPS file: ${error instanceof Error ? error.message : String(error)}`;
    return { now: undefined, error, problems: [why], keyIssues: [why], binding: undefined };
  }
}

/** The env a sealed record's plain `sealedEnv` names (an env name, or undefined for the project's readers). */
function sealedEnvOf(tree: KeyInspection["tree"] | undefined): string | undefined {
  const v = tree?.[0]?.get("sealedEnv");
  if (typeof v !== "string" || v === "") return undefined;
  try {
    return validateName("env", v);
  } catch {
    return undefined;
  }
}

/**
 * Every file the rules govern: each project's defaults and every file in its env folders
 * (exactly what the generated .sops.yaml routes), and the sealed records of every project.
 */
export async function governedFiles(r: Pick<Reader, "read" | "children">, state: RepoState): Promise<Governed[]> {
  return (await readGoverned(r, state)).files;
}

/**
 * {@link governedFiles}, with the bytes each was inspected from and the parse of each SOPS
 * file: what a caller opens next, neither read nor parsed twice.
 */
async function readGoverned(r: Pick<Reader, "read" | "children">, state: RepoState): Promise<{ files: Governed[]; bytes: Map<string, Uint8Array>; parsed: Map<string, ParsedSops> }> {
  const out: Governed[] = [];
  const bytesOf = new Map<string, Uint8Array>();
  const parsedOf = new Map<string, ParsedSops>();
  const governed = state.files.flatMap((path) => {
    const access = expectedAccess(state, path);
    return access ? [{ path, access }] : [];
  });
  // Asked for all at once: the reader's one `git cat-file --batch` answers them in a stream,
  // where one request at a time waits a round trip (and a wake-up of git) per file.
  const bodies = await Promise.all(governed.map((f) => r.read(f.path)));
  for (const [i, { path, access }] of governed.entries()) {
    const bytes = bodies[i];
    if (!bytes) continue;
    bytesOf.set(path, bytes);
    const format = formatForPath(path);
    const { tree: _, parsed, ...seen } = inspect(state, path, format, bytes);
    if (parsed) parsedOf.set(path, parsed);
    out.push({ path, format, sealed: false, readers: access.readers, want: access.recipients, missingKeys: access.missingKeys, ...seen });
  }
  const sealed: string[] = [];
  for (const project of state.projects) {
    for (const dir of SEALABLE_DIRS) {
      const walk = async (at: string): Promise<void> => {
        for (const c of await r.children(at)) {
          const path = `${at}/${c.name}`;
          if (c.dir) await walk(path);
          else if (c.name.endsWith(SEALED_SUFFIX)) sealed.push(path);
        }
      };
      await walk(`${project}/${dir}`);
    }
  }
  const sealedBodies = await Promise.all(sealed.map((path) => r.read(path)));
  for (const [i, path] of sealed.entries()) {
    const bytes = sealedBodies[i] ?? new Uint8Array();
    bytesOf.set(path, bytes);
    const { tree, parsed, ...seen } = inspect(state, path, "json", bytes);
    if (parsed) parsedOf.set(path, parsed);
    const sealedEnv = sealedEnvOf(tree);
    const readers = sealedReaders(state.config, sealedEnv);
    const { recipients, missingKeys } = recipientsOf(state, readers);
    out.push({ path, format: "json", sealed: true, readers, want: recipients, missingKeys, ...seen, ...(sealedEnv ? { sealedEnv } : {}) });
  }
  return { files: out, bytes: bytesOf, parsed: parsedOf };
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && new Set(a).size === new Set([...a, ...b]).size;

/**
 * Refuses to work around the user's uncommitted edits to what decides access: the rules,
 * keys/, .sops.yaml and every governed file. A command that read the committed state while
 * the user had just edited .boot-meta.yaml would answer for rules the user no longer has.
 */
export async function refuseUncommittedAccessEdits(git: Git, what: string): Promise<void> {
  const inside = await git.run(["rev-parse", "--is-inside-work-tree"], { reject: false });
  if (inside.exitCode !== 0 || inside.stdout.trim() !== "true") return;
  const r = await git.run(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"], { reject: false });
  if (r.exitCode !== 0) return;
  const dirty: string[] = [];
  for (const entry of r.stdout.split("\0")) {
    if (entry.length < 4) continue;
    const path = entry.slice(3);
    if (path === META_CONFIG || path === SOPS_CONFIG || path.startsWith(`${KEYS_DIR}/`) || parseGovernedPath(path) || path.endsWith(SEALED_SUFFIX)) dirty.push(path);
  }
  if (dirty.length === 0) return;
  const shown = dirty.slice(0, 5).map((p) => JSON.stringify(p)).join(", ");
  throw new BootMetaError("META_UNCOMMITTED_ACCESS_EDITS", `${what} works from the committed rules, keys and files, and you have uncommitted changes to ${shown}${dirty.length > 5 ? ", …" : ""}: nothing was done`, ExitCode.General, {
    data: { files: dirty },
    suggestions: ["commit them first (`git add … && git commit`), so the change to who reads what is a commit of its own, then run the command again", "or discard them: `git checkout -- FILE` (`git clean` for new files)"],
  });
}

export interface Drift {
  path: string;
  expected: string[];
  actual: string[];
  missing: string[];
  extra: string[];
  /** Everything else that is wrong: stanzas, key kinds, the binding, the MAC. */
  problems: string[];
}

export interface AccessCheckResult {
  commit: string;
  /** Files examined (never 0: a check of nothing is an error). */
  checked: number;
  /** Files opened with the given identities, their MAC and binding checked. */
  verified: number;
  drift: Drift[];
}

/**
 * Every governed file whose encryption differs from what the rules say: recipients missing
 * or extra by label, and what labels hide (an entry that holds several stanzas or is wrapped
 * to another kind of key, PGP or KMS keys no rule asks for, several key groups), files not
 * bound to their path or bound to another, files that are not SOPS files. With `identities`,
 * each file they open also has its MAC and its binding checked. Throws
 * `ACCESS_NOTHING_CHECKED` when there is no governed file (a check of nothing is no success),
 * and `META_UNCOMMITTED_ACCESS_EDITS` when the work tree has edits it would not see.
 */
export async function accessCheck(repoDir: string, o: { identities?: IdentitySet } = {}): Promise<AccessCheckResult> {
  const git = await Git.open(repoDir);
  await refuseUncommittedAccessEdits(git, "access check");
  return withReader(git.dir, undefined, async (r) => {
    const s = await readState(r);
    const { files, parsed } = await readGoverned(r, s);
    if (files.length === 0) {
      throw new BootMetaError("ACCESS_NOTHING_CHECKED", `there is no encrypted file the rules govern at ${r.commit.slice(0, 12)}: nothing was checked`, ExitCode.General, {
        suggestions: ["create one with `boot-meta env create PROJECT ENV`", "files outside a project's defaults and env folders are not governed"],
      });
    }
    const drift: Drift[] = [];
    let verified = 0;
    for (const g of files) {
      const problems = [...g.problems];
      if (o.identities && g.now) {
        const v = await verifyOpen(g, parsed.get(g.path) as ParsedSops, o.identities);
        if (v.opened) verified++;
        if (v.problem) problems.push(v.problem);
      }
      const actual = g.now ?? [];
      const missing = g.want.filter((x) => !actual.includes(x));
      const extra = actual.filter((x) => !g.want.includes(x));
      if (missing.length || extra.length || problems.length) {
        drift.push({ path: g.path, expected: g.want, actual, missing: principalsOf(s, missing), extra: principalsOf(s, extra), problems });
      }
    }
    return { commit: r.commit, checked: files.length, verified, drift };
  });
}

/** Opens a governed file with the reader's identities: what its MAC and verified binding say. */
async function verifyOpen(g: Governed, parsed: ParsedSops, identities: IdentitySet): Promise<{ opened?: OpenedFile; problem?: string; cannotOpen?: boolean }> {
  try {
    const f = await openParsed(parsed, { format: g.format, identities, path: g.path, pgp: false });
    const bound = openedBinding(f);
    const b = bindingProblem(g.path, bound);
    // Unbound is already said from the clear text; a verified other path is worth its own line.
    return { opened: f, problem: typeof bound === "string" && b ? `${b} (verified under its MAC)` : undefined };
  } catch (e) {
    if (isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE")) return { cannotOpen: true };
    return { problem: `it failed to open: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Who reads and who may change one governed file. */
export interface MatrixFile {
  path: string;
  readers: string[];
  missingKeys: string[];
  /** Principals the write rules let change it (`*`: any principal with a key). */
  writers: string[];
  /** The write rule that decides it, e.g. `write.envs.prod (default: the env's readers)`. */
  writeRule: string;
}

export interface AccessMatrix {
  commit: string;
  principals: string[];
  files: MatrixFile[];
  /**
   * Who may change each part of the repository (policy.ts), as `boot-meta verify` and readers
   * with a trust root check it against each commit's signer: the admin area, and per project
   * its defaults, each env, each channel, releases and instances. An env or channel named `*`
   * stands for any other one.
   */
  writers: Writers[];
}

/** Every governed file of the repo (config files and sealed records), who may read it and who may change it; and who may change each part of the repository. */
export async function accessMatrix(repoDir: string): Promise<AccessMatrix> {
  const git = await Git.open(repoDir);
  return withReader(git.dir, undefined, async (r) => {
    const s = await readState(r);
    const names = (w: Writers) => (w.anyone ? ["*", ...w.principals] : w.principals);
    const files = (await governedFiles(r, s)).map((g) => {
      const w = writersOf(s.config, g.path, s.projects);
      return { path: g.path, readers: g.readers, missingKeys: g.missingKeys, writers: names(w), writeRule: w.rule };
    });
    const principals = [...new Set([...s.keys.keys(), ...files.flatMap((f) => f.readers)])].sort();
    const writers: Writers[] = [writersOfArea(s.config, { area: "admin" })];
    const w = s.config.write ?? {};
    for (const project of s.projects) {
      const envs = new Set<string>();
      for (const f of s.files) {
        const p = parseGovernedPath(f);
        if (p?.project === project && p.env !== undefined) envs.add(p.env);
      }
      const channels = new Set(Object.keys(w.channels ?? {}).filter((c) => c !== "*"));
      for (const c of await r.children(`${project}/channels`)) if (!c.dir && c.name.endsWith(".json")) channels.add(c.name.slice(0, -5));
      writers.push(writersOfArea(s.config, { area: "defaults", project }));
      for (const env of [...[...envs].sort(), "*"]) writers.push(writersOfArea(s.config, { area: "env", project, env }));
      for (const channel of [...[...channels].sort(), "*"]) writers.push(writersOfArea(s.config, { area: "channel", project, channel }));
      writers.push(writersOfArea(s.config, { area: "releases", project }), writersOfArea(s.config, { area: "instances", project }));
    }
    return { commit: r.commit, principals, files, writers };
  });
}

// ---------------------------------------------------------------------------------------
// Re-keying: read → plan → apply, with every widening checked against the file's binding.

/** A governed file a re-key could not bring to its rules, and why: drift for a human. */
export interface Refused {
  path: string;
  code: string;
  reason: string;
}

export interface RekeyResult {
  /** Re-wrapped for new recipients (same data key, values untouched). */
  rewrapped: string[];
  /** Given a new data key, every value re-encrypted. */
  rotated: string[];
  /** Bound to their path for the first time (existing files, checked as `rekey` describes). */
  bound: string[];
  /** Files left as they were, with the reason; the command reports them and exits non-zero. */
  refused: Refused[];
}

export interface RekeyOptions {
  identities: IdentitySet;
  /** The state before this command's change (keys add/remove): what the rules gave each file then. */
  before?: RepoState;
  /** Principals that lose access: every file the rules let them read before is rotated, whatever its labels say. */
  removed?: string[];
  /** Paths a human reviewed: bound to where they are and brought to the rules, whatever they were written for. */
  accept?: readonly string[];
  onProgress?: (line: string) => void;
}

const keyId = (k: Uint8Array) => createHash("sha256").update(k).digest("hex");

/**
 * Brings every governed file to the recipients the rules give it, inside a write:
 *
 * - a file whose labels, keys and binding are already right is not opened;
 * - any other file is opened with the admin's identities and its MAC checked; one that does
 *   not open, or fails its MAC, is refused (left as it is, and reported);
 * - its binding, now verified, must name this path. An existing file with no binding is
 *   bound here only when its recipients are exactly what the rules give this path (before or
 *   after the change), its keys show nothing the rules did not ask for, and its data key is
 *   not shared with any other governed file (a copy); `accept` binds a reviewed file anyway.
 *   A file written for another path is refused: re-keying it would hand that path's plaintext
 *   to this path's readers;
 * - a file that lost a reader, or whose keys hold anything the rules did not ask for, is
 *   rotated (a new data key, fresh wraps for exactly the rules' recipients); one that only
 *   gained readers is re-wrapped.
 *
 * A change that would leave a file that had readers with none is refused before anything is
 * written (`META_NO_READER_LEFT`, naming the files).
 */
export async function rekey(tx: Tx, state: RepoState, o: RekeyOptions): Promise<RekeyResult> {
  const out: RekeyResult = { rewrapped: [], rotated: [], bound: [], refused: [] };
  const { files, bytes: bytesOf, parsed: parsedOf } = await readGoverned(tx, state);
  const accept = new Set(o.accept ?? []);
  for (const p of accept) {
    if (!files.some((g) => g.path === p)) {
      throw new BootMetaError("ACCESS_ACCEPT_UNKNOWN", `--accept ${p}: there is no governed file at that path`, ExitCode.InvalidArgument, {
        data: { path: p },
        suggestions: ["`boot-meta access check` lists the files that need a review, with their paths"],
      });
    }
  }
  const wantIn = (s: RepoState | undefined, g: Governed, sealedEnv: string | undefined): { readers: string[]; recipients: string[] } | undefined => {
    if (!s) return undefined;
    if (g.sealed) {
      const readers = sealedReaders(s.config, sealedEnv);
      return { readers, recipients: recipientsOf(s, readers).recipients };
    }
    const a = expectedAccess(s, g.path);
    return a && { readers: a.readers, recipients: a.recipients };
  };
  const orphaned = files.filter((g) => g.want.length === 0 && (wantIn(o.before, g, g.sealedEnv)?.recipients.length ?? 0) > 0);
  if (orphaned.length) {
    throw new BootMetaError("META_NO_READER_LEFT", `this change would leave ${orphaned.length} file(s) with no reader who has a key: ${orphaned.slice(0, 5).map((g) => g.path).join(", ")}${orphaned.length > 5 ? ", …" : ""}; nothing was changed`, ExitCode.General, {
      data: { files: orphaned.map((g) => g.path) },
      suggestions: ["give those paths another reader first (`boot-meta keys add NAME --key … --group admins`, or a rule in .boot-meta.yaml), then run the command again"],
    });
  }
  const removed = new Set(o.removed ?? []);
  // Data keys of the files the admin can open, to tell a copy from an original (loaded on first need).
  let keyOwners: Map<string, string[]> | undefined;
  const ownersOf = async (key: Uint8Array): Promise<string[]> => {
    if (!keyOwners) {
      keyOwners = new Map();
      for (const g of files) {
        if (!g.now) continue;
        const k = await dataKeyOfBytes(bytesOf.get(g.path) as Uint8Array, { format: g.format, identities: o.identities, path: g.path, pgp: false }).catch(() => undefined);
        if (k) keyOwners.set(keyId(k), [...(keyOwners.get(keyId(k)) ?? []), g.path]);
      }
    }
    return keyOwners.get(keyId(key)) ?? [];
  };
  const total = files.length;
  let n = 0;
  for (const g of files) {
    n++;
    const refuse = (code: string, reason: string) => {
      out.refused.push({ path: g.path, code, reason });
      o.onProgress?.(`[${n}/${total}] refused ${g.path}: ${reason}`);
    };
    if (!g.now) {
      refuse("SOPS_NOT_ENCRYPTED", g.problems[0] ?? "it is not a SOPS file");
      continue;
    }
    // A removed principal that held a key and that the rules let read this file: rotated, whatever the labels say.
    const hadRemoved = [...removed].some((p) => o.before?.keys.has(p) && wantIn(o.before, g, g.sealedEnv)?.readers.includes(p));
    const clean = g.problems.length === 0;
    const keyIssues = g.keyIssues.length > 0;
    if (clean && !hadRemoved && !accept.has(g.path) && sameSet(g.now, g.want)) continue;
    if (g.want.length === 0) {
      refuse("META_NO_READERS", `the rules give it no reader who has a key (${g.readers.join(", ") || "no one"}); it was left as it is`);
      continue;
    }
    const bytes = bytesOf.get(g.path) as Uint8Array;
    const parsed = parsedOf.get(g.path) as ParsedSops;
    let f: OpenedFile;
    try {
      f = await openParsed(parsed, { format: g.format, identities: o.identities, path: g.path, pgp: false });
    } catch (e) {
      const why = isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE")
        ? `none of your identities opens it (it is labelled for ${principalsOf(state, g.now).join(", ") || "no one"}): an admin who can open it must re-key it, or it must be re-created`
        : `it does not open: ${e instanceof Error ? e.message : String(e)}`;
      refuse(isBootMetaError(e) ? e.code : "SOPS_OPEN_FAILED", why);
      continue;
    }
    // From here on the file's content is verified by its MAC: a sealed record's env too.
    const sealedEnv = g.sealed ? sealedEnvOf(f.tree) : undefined;
    const want = g.sealed ? (wantIn(state, g, sealedEnv)?.recipients ?? []) : g.want;
    if (want.length === 0) {
      refuse("META_NO_READERS", "the rules give it no reader who has a key; it was left as it is");
      continue;
    }
    const bound = openedBinding(f);
    const accepted = accept.has(g.path);
    let bind = false;
    if (accepted) bind = bound !== g.path;
    else if (typeof bound === "string" && bound !== g.path) {
      refuse("META_BINDING_MISMATCH", `it was written for ${bound} (verified under its MAC): re-keying it here would give that path's plaintext to this path's readers. Re-create it, or after review: boot-meta access sync --accept ${g.path}`);
      continue;
    } else if (bound === undefined) {
      const before = wantIn(o.before, g, sealedEnv)?.recipients;
      const exact = sameSet(g.now, want) || (before !== undefined && sameSet(g.now, before));
      const kinds = g.keyIssues;
      if (f.metadata.macOnlyEncrypted) {
        refuse("META_UNBINDABLE", "mac_only_encrypted is set, so a path binding would not be covered by its MAC: re-create it without mac_only_encrypted");
        continue;
      }
      if (!isGovernedFormat(g.format)) {
        refuse("META_UNBINDABLE", `it is a ${g.format} file, which cannot carry a path binding: re-create it as YAML or JSON, or after review: boot-meta access sync --accept ${g.path}`);
        continue;
      }
      if (!exact || kinds.length) {
        refuse("META_UNBOUND_DRIFT", `it is not bound to its path, and ${kinds.length ? kinds.join("; ") : `it is encrypted to ${principalsOf(state, g.now).join(", ")}, not to who the rules give it (${principalsOf(state, want).join(", ")})`}: a human must tell where it came from. Re-create it, or after review: boot-meta access sync --accept ${g.path}`);
        continue;
      }
      const copies = (await ownersOf(f.dataKey)).filter((p) => p !== g.path);
      if (copies.length) {
        refuse("META_UNBOUND_COPY", `it is not bound to its path and shares its data key with ${copies.join(", ")}: it is a copy of that file. Re-create it, or after review: boot-meta access sync --accept ${g.path}`);
        continue;
      }
      bind = true;
    }
    // A reviewed file may share its data key with the file it was copied from: it always gets its own.
    const lost = g.now.some((x) => !want.includes(x)) || hadRemoved || keyIssues || accepted;
    const tree = bind ? withBinding(f.tree, g.path) : f.tree;
    if (lost) {
      tx.write(g.path, await resealBytes(f, { tree, keyGroups: [want], newDataKey: true }));
      out.rotated.push(g.path);
      o.onProgress?.(`[${n}/${total}] rotated ${g.path}`);
    } else if (bind) {
      tx.write(g.path, await resealBytes(f, { tree, keyGroups: [want], reuseWraps: true }));
      (sameSet(g.now, want) ? [] : out.rewrapped).push(g.path);
      o.onProgress?.(`[${n}/${total}] bound ${g.path}${sameSet(g.now, want) ? "" : " and re-wrapped it"}`);
    } else if (!sameSet(g.now, want)) {
      tx.write(g.path, (await updateKeysBytes(bytes, { format: g.format, keyGroups: [want], identities: o.identities, path: g.path, pgp: false })).bytes);
      out.rewrapped.push(g.path);
      o.onProgress?.(`[${n}/${total}] re-wrapped ${g.path}`);
    }
    if (bind) out.bound.push(g.path);
  }
  tx.write(SOPS_CONFIG, renderSopsYaml(state));
  return out;
}

/**
 * Before a value is written into an existing governed file: refuses a file that would show
 * the new value to someone the rules do not give this path — one written for another path
 * (its verified binding), or one whose keys hold recipients, stanzas or key kinds beyond the
 * rules' — and says whether this write should bind it (an existing file whose recipients are
 * exactly the rules'). Throws `META_BINDING_MISMATCH` or `META_UNSAFE_TO_WRITE`.
 */
export function checkWritable(state: RepoState, path: string, f: OpenedFile): { bind: boolean } {
  const bound = openedBinding(f);
  if (bound !== undefined && bound !== path) throw bindingMismatch(path, bound);
  const format = formatForPath(path);
  // The opened file's metadata: no second parse of its bytes.
  const k = inspectMetadata(f.metadata, f.tree);
  const now = labelsOf(k);
  const want = expectedAccess(state, path)?.recipients ?? [];
  const extra = now.filter((r) => !want.includes(r));
  const issues = [...keyProblems(state, k), ...(extra.length ? [`it is encrypted to ${principalsOf(state, extra).join(", ")}, whom the rules do not give ${path}`] : [])];
  if (issues.length) {
    throw new BootMetaError("META_UNSAFE_TO_WRITE", `a value written into ${path} would not stay with who the rules give it: ${issues.join("; ")}. Nothing was written`, ExitCode.General, {
      data: { file: path, issues },
      suggestions: ["`boot-meta access check` shows the file's drift; an admin fixes it with `boot-meta access sync` (after review, `--accept PATH`)"],
    });
  }
  return { bind: bound === undefined && !f.metadata.macOnlyEncrypted && isGovernedFormat(format) && sameSet(now, want) };
}
