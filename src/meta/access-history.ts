import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { inspectBytes, inspectMetadata, openBytes, resealBytes } from "../sops/engine.js";
import type { IdentitySet } from "../sops/identities.js";
import { formatForPath } from "../sops/formats/index.js";
import { Branch, type Value } from "../sops/tree.js";
import { BINDING_KEY, openedBinding } from "./binding.js";
import { type CommitResult, commitChanges } from "./commit.js";
import { Git } from "./git.js";
import { removeKey, type WriteOptions } from "./keys.js";
import { KEYS_DIR, META_CONFIG, validateName } from "./layout.js";
import { parseMetaConfig, parsePrincipalKeys, readersOfPath, type MetaConfig } from "./model.js";
import { type ObjectFormat, parseTree } from "./objects.js";
import type { RekeyResult } from "./access.js";

/**
 * Blast radius: what a principal's keys could open at any commit of history, read from what
 * each file's sops metadata says (that is what a key opens), beside what the rules said.
 * The walk reads objects by id and remembers its answers by id — a subtree unchanged across
 * a thousand commits is looked at once, a blob parsed once, and only a blob that names one
 * of the keys is parsed at all — so a long history costs about as much as its distinct objects.
 */

/** A commit and its committer date (ISO 8601). */
export interface CommitPoint {
  commit: string;
  date: string;
}

export interface HistoryValue {
  /** Dotted path of an encrypted value. */
  key: string;
  first: CommitPoint;
  last: CommitPoint;
}

export interface HistoryFile {
  path: string;
  /** The first and last commit (of those walked) at which one of the principal's keys opened it. */
  first: CommitPoint;
  last: CommitPoint;
  /** Commits walked at which it was readable. */
  commits: number;
  /** It is a file at the head commit. */
  exists: boolean;
  /** Readable at the head commit. */
  readableNow: boolean;
  /** The rules (`.boot-meta.yaml` at that commit) gave the principal this path at some commit where it was readable; false: only the file's keys did. */
  byRules: boolean;
  /** Which of the principal's keys it was encrypted to. */
  recipients: string[];
  /** Every encrypted value it held while readable. */
  values: HistoryValue[];
}

export interface AccessHistory {
  principal: string;
  head: string;
  since: string | null;
  /** Commits walked. */
  commits: number;
  /** Every public key keys/<principal>.txt held in the commits walked (and at head). */
  recipients: string[];
  files: HistoryFile[];
}

interface BlobInfo {
  recipients: string[];
  values: string[];
}

const NO_ACCESS: BlobInfo = { recipients: [], values: [] };
const TREE_MODE = "40000";

function encryptedLeaves(v: Value, prefix: string, out: string[]): void {
  if (v instanceof Branch) {
    for (const i of v.items) if ("key" in i && i.key !== BINDING_KEY) encryptedLeaves(i.value, prefix ? `${prefix}.${i.key}` : i.key, out);
  } else if (Array.isArray(v)) {
    // A list is one value to a reader (config merges it whole): encrypted if any item is.
    const inner: string[] = [];
    v.forEach((x, n) => encryptedLeaves(x, `${prefix}.${n}`, inner));
    if (inner.length) out.push(prefix);
  } else if (typeof v === "string" && v.startsWith("ENC[")) out.push(prefix);
}

/**
 * Objects by id through one `git cat-file --batch`. Not object-files.ts's reader, though it
 * starts no process: a walk over history reads the same delta bases again and again, which
 * git's delta base cache keeps and that reader does not — measured on 201 commits
 * (bench/access-history.bench.mjs), 8.5 s through the object files against 0.7 s through git.
 */
function objectSource(git: Git): { get(id: string): Promise<{ type: string; body: Uint8Array } | undefined>; close(): void } {
  const cat = git.catFile();
  return { get: (id) => cat.object(id), close: () => cat.close() };
}

/**
 * `boot-meta access history NAME`: every file, and every encrypted value path in it, that a
 * key of NAME could decrypt at any commit from `since` (a date) to `head`, with the first and
 * last commit it could. Throws `META_NO_PRINCIPAL` when NAME never had a key in keys/ in
 * the commits walked, `INVALID_ARGUMENT` for a date that does not parse.
 */
export async function accessHistory(repoDir: string, name: string, o: { since?: string; head?: string; onProgress?: (done: number, total: number) => void } = {}): Promise<AccessHistory> {
  validateName("principal", name);
  let since: Date | undefined;
  if (o.since !== undefined) {
    since = new Date(o.since);
    if (Number.isNaN(since.getTime())) {
      throw new BootMetaError("INVALID_ARGUMENT", `--since ${JSON.stringify(o.since)} is not a date`, ExitCode.InvalidArgument, { data: { since: o.since }, suggestions: ["give a date as 2026-01-31 or 2026-01-31T12:00:00Z"] });
    }
  }
  const git = await Git.open(repoDir);
  const head = await git.resolve(o.head ?? "HEAD");
  const format: ObjectFormat = head.length === 64 ? "sha256" : "sha1";
  const list = (await git.run(["rev-list", "--reverse", "--topo-order", "--timestamp", ...(since ? [`--since=${since.toISOString()}`] : []), head])).stdout.split("\n").filter((l) => l !== "");
  const commits = list.map((l) => {
    const [ts, id] = l.split(" ");
    return { commit: id as string, date: new Date(Number(ts) * 1000).toISOString() };
  }).filter((c) => !since || new Date(c.date) >= since);
  const objects = objectSource(git);
  const treeCache = new Map<string, Promise<{ name: string; id: string; tree: boolean }[]>>();
  const tree = (id: string) => {
    let t = treeCache.get(id);
    if (!t) {
      t = objects.get(id).then((x) => {
        if (x?.type !== "tree") throw new BootMetaError("META_UNKNOWN_REVISION", `the tree ${id} is missing from ${git.dir}`, ExitCode.General);
        return parseTree(x.body, format).filter((e) => e.name !== "" && !e.name.includes("/") && e.name !== "." && e.name !== "..").map((e) => ({ name: e.name, id: e.id, tree: e.mode === TREE_MODE }));
      });
      treeCache.set(id, t);
    }
    return t;
  };
  const entryAt = async (root: string, path: string): Promise<string | undefined> => {
    let id = root;
    const parts = path.split("/");
    for (const [n, part] of parts.entries()) {
      const e = (await tree(id)).find((x) => x.name === part);
      if (!e || e.tree !== (n < parts.length - 1)) return undefined;
      id = e.id;
    }
    return id;
  };
  const rootOf = new Map<string, string>();
  const rootTree = async (commit: string): Promise<string> => {
    let r = rootOf.get(commit);
    if (!r) {
      const c = await objects.get(commit);
      r = c?.type === "commit" ? /^tree ([0-9a-f]+)\n/.exec(Buffer.from(c.body).toString("latin1"))?.[1] : undefined;
      if (!r) throw new BootMetaError("META_UNKNOWN_REVISION", `the commit ${commit} is missing from ${git.dir}`, ExitCode.General);
      rootOf.set(commit, r);
    }
    return r;
  };
  const text = async (id: string | undefined) => (id === undefined ? undefined : (await objects.get(id))?.body);

  try {
    // Pass 1: every key the principal held in the commits walked (a key replaced on its file is still a key someone may hold).
    const keyBlobs = new Set<string>();
    for (const c of [...commits, { commit: head, date: "" }]) {
      const b = await entryAt(await rootTree(c.commit), `${KEYS_DIR}/${name}.txt`);
      if (b) keyBlobs.add(b);
    }
    const recipients = new Set<string>();
    for (const b of keyBlobs) {
      const body = await text(b);
      if (!body) continue;
      try {
        for (const r of parsePrincipalKeys(Buffer.from(body).toString("utf8"), name)) recipients.add(r);
      } catch {
        /* a key file that does not parse (a private key committed by mistake) gives no recipient here */
      }
    }
    if (recipients.size === 0) {
      throw new BootMetaError("META_NO_PRINCIPAL", `${name} had no public key in ${KEYS_DIR}/${name}.txt in any of the ${commits.length} commit(s) walked${since ? ` since ${since.toISOString()}` : ""}`, ExitCode.General, {
        data: { principal: name },
        suggestions: ["check the name (`boot-meta keys list`), or walk further back (a smaller --since, or none)"],
      });
    }
    const mine = [...recipients].sort();
    const needles = mine.map((r) => Buffer.from(r));

    // Pass 2: what those keys open, by blob (parsed once) and by subtree (walked once).
    const blobs = new Map<string, Promise<BlobInfo>>();
    const blobInfo = (id: string, path: string): Promise<BlobInfo> => {
      // The format comes from the name: the same bytes under a .json and a .yaml name are two readings.
      const cacheKey = `${id}:${formatForPath(path)}`;
      let p = blobs.get(cacheKey);
      if (!p) {
        p = (async () => {
          const body = await text(id);
          if (!body) return NO_ACCESS;
          const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
          // Only a file that names one of the keys can be encrypted to it: the rest are not parsed.
          if (!needles.some((n) => buf.includes(n))) return NO_ACCESS;
          try {
            const k = inspectBytes(body, formatForPath(path), path);
            const labels = k.groups.flatMap((g) => g.age.map((a) => a.recipient));
            const hit = mine.filter((r) => labels.includes(r));
            if (!hit.length) return NO_ACCESS;
            const values: string[] = [];
            for (const doc of k.tree) encryptedLeaves(doc, "", values);
            return { recipients: hit, values };
          } catch {
            return NO_ACCESS;
          }
        })();
        blobs.set(cacheKey, p);
      }
      return p;
    };
    const readableUnder = new Map<string, Promise<{ path: string; blob: string; info: BlobInfo }[]>>();
    const walk = (id: string, name0: string): Promise<{ path: string; blob: string; info: BlobInfo }[]> => {
      // A blob's format comes from its name, so a subtree is remembered with the name of the folder it is.
      const key = `${id}\0${name0}`;
      let p = readableUnder.get(key);
      if (!p) {
        p = (async () => {
          const out: { path: string; blob: string; info: BlobInfo }[] = [];
          for (const e of await tree(id)) {
            if (e.tree) {
              for (const x of await walk(e.id, e.name)) out.push({ ...x, path: `${e.name}/${x.path}` });
            } else {
              const info = await blobInfo(e.id, e.name);
              if (info.recipients.length) out.push({ path: e.name, blob: e.id, info });
            }
          }
          return out;
        })();
        readableUnder.set(key, p);
      }
      return p;
    };
    const configs = new Map<string, MetaConfig | undefined>();
    const rulesAt = async (root: string): Promise<MetaConfig | undefined> => {
      const b = await entryAt(root, META_CONFIG);
      if (b === undefined) return undefined;
      if (!configs.has(b)) {
        const body = await text(b);
        let c: MetaConfig | undefined;
        try {
          c = body ? parseMetaConfig(Buffer.from(body).toString("utf8")) : undefined;
        } catch {
          c = undefined;
        }
        configs.set(b, c);
      }
      return configs.get(b);
    };

    const files = new Map<string, HistoryFile & { valueMap: Map<string, HistoryValue>; recipientSet: Set<string> }>();
    for (const [n, c] of commits.entries()) {
      o.onProgress?.(n, commits.length);
      const root = await rootTree(c.commit);
      const found = await walk(root, "");
      if (!found.length) continue;
      const rules = await rulesAt(root);
      for (const f of found) {
        let h = files.get(f.path);
        if (!h) {
          h = { path: f.path, first: c, last: c, commits: 0, exists: false, readableNow: false, byRules: false, recipients: [], values: [], valueMap: new Map(), recipientSet: new Set() };
          files.set(f.path, h);
        }
        h.last = c;
        h.commits++;
        for (const r of f.info.recipients) h.recipientSet.add(r);
        if (!h.byRules && rules && readersOfPath(rules, f.path)?.includes(name)) h.byRules = true;
        for (const v of f.info.values) {
          const hv = h.valueMap.get(v);
          if (hv) hv.last = c;
          else h.valueMap.set(v, { key: v, first: c, last: c });
        }
      }
    }
    o.onProgress?.(commits.length, commits.length);
    const headRoot = await rootTree(head);
    const nowReadable = new Set((await walk(headRoot, "")).map((f) => f.path));
    const out: HistoryFile[] = [];
    for (const h of [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
      const { valueMap, recipientSet, ...rest } = h;
      out.push({ ...rest, exists: (await entryAt(headRoot, h.path)) !== undefined, readableNow: nowReadable.has(h.path), recipients: [...recipientSet].sort(), values: [...valueMap.values()].sort((a, b) => (a.key < b.key ? -1 : 1)) });
    }
    return { principal: name, head, since: since?.toISOString() ?? null, commits: commits.length, recipients: mine, files: out };
  } finally {
    objects.close();
  }
}

/** What a lost key of a principal requires, as data (read → plan → apply). */
export interface LostKeyPlan {
  principal: string;
  head: string;
  /** `boot-meta keys remove NAME`: it still has keys/NAME.txt (its files are rotated by that). */
  removeKey: boolean;
  /** Files it could read that still exist: each needs a new data key (the old one may be in its hands, with the old ciphertext). */
  rotate: string[];
  /** Values it could read, per file: only changing the secret itself takes them back. */
  changeByHand: { path: string; exists: boolean; keys: string[] }[];
  /** Why the values must change by hand. */
  note: string;
}

export const HISTORY_NOTE =
  "git history keeps every old version of these files, and the lost key opens each one it was encrypted to: rotating data keys protects what is written from now on, and only changing a secret at its source (a new password, a new API key) takes back the value it could read.";

/** The plan for a lost key, from its history. Pure. */
export function planLostKey(h: AccessHistory, o: { hasKey: boolean }): LostKeyPlan {
  return {
    principal: h.principal,
    head: h.head,
    removeKey: o.hasKey,
    rotate: h.files.filter((f) => f.exists).map((f) => f.path),
    changeByHand: h.files.filter((f) => f.values.length).map((f) => ({ path: f.path, exists: f.exists, keys: f.values.map((v) => v.key) })),
    note: HISTORY_NOTE,
  };
}

export interface LostKeyApplied {
  /** The `keys remove` commit and what it did (null when the principal had no key left and nothing was encrypted to it). */
  removed: (RekeyResult & { commit: string | null }) | null;
  /** Files the plan names that `keys remove` did not rotate, rotated here in a commit of their own (recipients kept, less the lost keys). */
  rotated: string[];
  commit: string | null;
  /** Left as they were, and why: a human must look. */
  refused: { path: string; code: string; reason: string }[];
  /** Still to do by hand. */
  changeByHand: LostKeyPlan["changeByHand"];
  note: string;
}

/**
 * Carries out the re-key part of a plan: `keys remove` (the same code path as the command),
 * then a new data key for every other file the plan names, each opened first (MAC checked)
 * and re-sealed to the recipients it has, less the lost keys — never to anyone new, so no
 * file's readers widen. A file that does not open, or would be left with no reader, is
 * refused and listed.
 */
export async function applyLostKeyPlan(repoDir: string, plan: LostKeyPlan, lost: readonly string[], o: WriteOptions & { identities: IdentitySet }): Promise<LostKeyApplied> {
  let removed: LostKeyApplied["removed"] = null;
  if (plan.removeKey || plan.rotate.length) {
    try {
      const r = await removeKey(repoDir, plan.principal, o);
      removed = { ...r.value, commit: r.commit ?? null };
    } catch (e) {
      if (!isBootMetaError(e, "META_NO_PRINCIPAL")) throw e;
    }
  }
  const done = new Set(removed?.rotated ?? []);
  const refused: LostKeyApplied["refused"] = [...(removed?.refused ?? [])];
  const skip = new Set(refused.map((r) => r.path));
  const todo = plan.rotate.filter((p) => !done.has(p) && !skip.has(p));
  let total = 0;
  let n = 0;
  const r: CommitResult<string[]> = todo.length
    ? await commitChanges(repoDir, { message: (v: string[]) => `access: rotate what a lost key of ${plan.principal} could read\n\n${plan.principal}'s key(s) could open ${v.length} more file(s) at some commit; each got a new data key and every value was re-encrypted.\n${v.map((p) => `- ${p}`).join("\n")}\n`, author: o.author, push: o.push }, async (tx) => {
        const rotated: string[] = [];
        total = todo.length;
        for (const path of todo) {
          n++;
          const bytes = await tx.read(path);
          if (!bytes) continue;
          const format = formatForPath(path);
          try {
            const f = await openBytes(bytes, { format, identities: o.identities, path, pgp: false });
            const bound = openedBinding(f);
            if (bound !== undefined && bound !== path) throw new BootMetaError("META_BINDING_MISMATCH", `it was written for ${bound}`, ExitCode.General);
            const k = inspectMetadata(f.metadata, f.tree);
            if (k.groups.some((g) => g.pgp.length || Object.keys(g.other).length)) throw new BootMetaError("META_UNSAFE_TO_WRITE", "it has PGP or cloud keys, which boot-meta does not re-wrap", ExitCode.General);
            const groups = k.groups.map((g) => g.age.map((a) => a.recipient).filter((x) => !lost.includes(x)));
            if (groups.some((g) => g.length === 0)) throw new BootMetaError("META_NO_READERS", "without the lost key(s) it would have no reader left", ExitCode.General);
            tx.write(path, await resealBytes(f, { keyGroups: groups, newDataKey: true }));
            rotated.push(path);
            o.onProgress?.(`[${n}/${total}] rotated ${path}`);
          } catch (e) {
            const code = isBootMetaError(e) ? e.code : "SOPS_OPEN_FAILED";
            const why = isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE") ? "none of your identities opens it: an admin who can must rotate it" : e instanceof Error ? e.message : String(e);
            if (!refused.some((x) => x.path === path)) refused.push({ path, code, reason: why });
            o.onProgress?.(`[${n}/${total}] refused ${path}: ${why}`);
          }
        }
        return rotated;
      })
    : { value: [], commit: undefined, pushed: false, attempts: 0 };
  return { removed, rotated: r.value, commit: r.commit ?? null, refused, changeByHand: plan.changeByHand, note: plan.note };
}
