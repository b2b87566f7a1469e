import { appendFile, mkdir, readFile } from "node:fs/promises";
import { writeFileAtomic } from "../io.js";
import { join } from "node:path";
import { BootMetaError, ExitCode } from "../errors.js";
import { decodeUtf8 } from "../limits.js";
import { parseSshPublicKey, sshFingerprint, sshVerify } from "../ssh/sshsig.js";
import { type CatFile, Git } from "./git.js";
import { APPROVALS_DIR, KEYS_DIR, META_CONFIG } from "./layout.js";
import { DEFAULT_META_CONFIG, type MetaConfig, parseMetaConfig, parsePrincipalKeys } from "./model.js";
import { type ObjectFormat, parseTree, type TreeEntry } from "./objects.js";
import { adminChangeId, adminQuorum, areaOf, mayWrite, writersOf, writersOfArea } from "./policy.js";
import { readerOver, type TreeCache, type TreeReader } from "./reader.js";
import { signingKeysOf } from "./signers.js";
import { findProjects } from "./state.js";

/**
 * Signed, policy-checked history (README "Signed history"). Every commit after a trusted
 * root must be signed (git's SSH signing, `gpg.format ssh`) by a key in `keys/` at its
 * parent, and every path it changes must be allowed to that signer by the write rules at its
 * parent — so a change to the rules is judged by the old rules, and a merge is judged against
 * each of its parents. Signatures are checked here, in-process (no `ssh-keygen` per commit).
 */

export type VerifyReason = "unsigned" | "unsupported-signature" | "bad-signature" | "unknown-signer" | "not-allowed" | "not-enough-approvals" | "unrelated-root" | "rewritten";

export interface VerifyFailure {
  commit: string;
  /** The parent it was judged against. */
  parent?: string;
  reason: VerifyReason;
  message: string;
  /** The principal who signed it, when the key is known. */
  signer?: string;
  /** The first path the signer may not change. */
  path?: string;
  /** The rule that decided, e.g. `write.envs.prod`. */
  rule?: string;
}

export interface VerifyResult {
  root: string;
  head: string;
  /** Commits checked in this run (those verified before are not checked again). */
  checked: number;
  /** The newest commit of the branch (first-parent history) whose whole past verifies. */
  verified: string;
  /** Who signed each commit checked in this run. */
  signers: Map<string, string>;
  failure?: VerifyFailure;
}

interface ParsedCommit {
  tree: string;
  parents: string[];
  /** The commit without its signature header: what the signature is over. */
  payload: Buffer;
  signature?: string;
}

/** A commit object's tree, parents and signature (`gpgsig`, or `gpgsig-sha256` in a sha256 repository). */
export function parseCommit(body: Uint8Array, format: ObjectFormat): ParsedCommit {
  const text = Buffer.from(body).toString("latin1");
  const end = text.indexOf("\n\n");
  const head = end < 0 ? text : text.slice(0, end);
  const lines = head.split("\n");
  const sigHeader = format === "sha256" ? "gpgsig-sha256" : "gpgsig";
  const kept: string[] = [];
  const sig: string[] = [];
  let inSig = false;
  let tree = "";
  const parents: string[] = [];
  for (const line of lines) {
    if (inSig && line.startsWith(" ")) {
      sig.push(line.slice(1));
      continue;
    }
    inSig = false;
    if (line.startsWith(`${sigHeader} `)) {
      inSig = true;
      sig.push(line.slice(sigHeader.length + 1));
      continue;
    }
    // Another hash's signature is part of the signed payload, as git keeps it.
    kept.push(line);
    if (line.startsWith("tree ")) tree = line.slice(5);
    else if (line.startsWith("parent ")) parents.push(line.slice(7));
  }
  const payload = Buffer.from(`${kept.join("\n")}${end < 0 ? "" : text.slice(end)}`, "latin1");
  return { tree, parents, payload, signature: sig.length ? `${sig.join("\n")}\n` : undefined };
}

/** What the rules and keys say at one commit. */
interface Policy {
  config: MetaConfig;
  /** hex of an ed25519 key → principal */
  signers: Map<string, string>;
}

/**
 * One walk's view of the object database, with what it has worked out by object id (objects
 * never change): a commit's tree, the projects of a root tree, and the policy of a pair of
 * `.boot-meta.yaml` blob and keys/ tree — most commits change neither, so the rules are
 * parsed and the key files read once per change to them, not once per commit.
 */
interface Walk {
  cat: CatFile;
  format: ObjectFormat;
  trees: TreeCache;
  commitTrees: Map<string, string>;
  projects: Map<string, Promise<string[]>>;
  policies: Map<string, Promise<Policy>>;
}

const newWalk = (cat: CatFile, format: ObjectFormat): Walk => ({ cat, format, trees: new Map(), commitTrees: new Map(), projects: new Map(), policies: new Map() });

/**
 * Checks history from `root` (trusted as it is) to `head`. Verified commits are remembered
 * under the repository's git directory (never pushed), so a follower checks only what is new.
 * Stops at the first commit that fails and names it; `verified` is then the newest commit on
 * the branch before it whose past all verifies.
 */
export async function verifyHistory(repoDir: string, o: { root: string; head?: string; cache?: boolean; onProgress?: (done: number, total: number) => void }): Promise<VerifyResult> {
  const git = await Git.open(repoDir);
  const root = await resolveRoot(git, o.root);
  const head = await git.resolve(o.head ?? "HEAD");
  const format: ObjectFormat = head.length === 64 ? "sha256" : "sha1";
  const signers = new Map<string, string>();
  const cacheFile = join(git.commonDir, "boot-meta", "verified", root);
  const cached = o.cache === false ? [] : (await readFile(cacheFile, "utf8").catch(() => "")).split("\n").filter((l) => l !== "");
  const known = new Set<string>(cached);
  known.add(root);
  // Every commit that the last verified one reaches was verified before it (they are checked
  // in topological order and a failure stops the walk), the root among them: when head still
  // has it in its history, only what it does not reach is listed, and the root's place in
  // head's history need not be walked to again.
  const last = cached.at(-1);
  const followsLast = last !== undefined && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(last) && (last === head || (await git.run(["merge-base", "--is-ancestor", last, head], { reject: false })).exitCode === 0);
  if (!followsLast && root !== head && (await git.run(["merge-base", "--is-ancestor", root, head], { reject: false })).exitCode !== 0) {
    return {
      root,
      head,
      checked: 0,
      verified: root,
      signers,
      failure: { commit: head, reason: "rewritten", message: `the trust root ${root.slice(0, 12)} is not in the history of ${head.slice(0, 12)}: history was rewritten (a force-push) or the root is from another repository` },
    };
  }
  const list = (await git.run(["rev-list", "--reverse", "--topo-order", "--parents", ...(followsLast ? [head, `^${last}`] : [`${root}..${head}`])])).stdout.split("\n").filter((l) => l !== "");
  const todo = list.map((l) => l.split(" ")).filter(([c]) => !known.has(c as string));
  const cat = git.catFile();
  const w = newWalk(cat, format);
  const fresh: string[] = [];
  let failure: VerifyFailure | undefined;
  try {
    for (const [i, [commit, ...parents]] of todo.entries()) {
      o.onProgress?.(i, todo.length);
      failure = await checkCommit(w, commit as string, parents, signers);
      if (failure) break;
      fresh.push(commit as string);
      known.add(commit as string);
    }
  } finally {
    cat.close();
  }
  if (fresh.length && o.cache !== false) {
    await mkdir(join(git.commonDir, "boot-meta", "verified"), { recursive: true });
    await appendFile(cacheFile, `${fresh.join("\n")}\n`);
  }
  let verified = head;
  if (failure) {
    // The newest first-parent ancestor of head all of whose history verified.
    const chain = (await git.run(["rev-list", "--first-parent", `${root}..${head}`])).stdout.split("\n").filter((l) => l !== "");
    verified = chain.find((c) => known.has(c) && c !== failure?.commit) ?? root;
  }
  return { root, head, checked: fresh.length + (failure ? 1 : 0), verified, signers, failure };
}

async function resolveRoot(git: Git, root: string): Promise<string> {
  try {
    return await git.resolve(root);
  } catch {
    throw new BootMetaError("VERIFY_UNKNOWN_ROOT", `the trust root ${JSON.stringify(root)} is not a commit in ${git.dir}`, ExitCode.InvalidArgument, {
      data: { root },
      suggestions: ["give the full hash of a commit you trust (`boot-meta init` printed the first one); fetch first if it is on a remote"],
    });
  }
}

async function checkCommit(w: Walk, commit: string, parents: string[], signers: Map<string, string>): Promise<VerifyFailure | undefined> {
  const c = await readCommit(w, commit);
  const short = commit.slice(0, 12);
  if (parents.length === 0) return { commit, reason: "unrelated-root", message: `commit ${short} has no parent: a history that does not start at the trust root was merged in` };
  if (!c.signature) return { commit, reason: "unsigned", message: `commit ${short} is not signed` };
  if (!c.signature.includes("-----BEGIN SSH SIGNATURE-----")) return { commit, reason: "unsupported-signature", message: `commit ${short} is signed with PGP or X.509; boot-meta checks SSH signatures (git config gpg.format ssh)` };
  let key: Buffer;
  try {
    const r = sshVerify(c.signature, c.payload, "git");
    if (!r.valid) return { commit, reason: "bad-signature", message: `commit ${short}'s signature does not match its content` };
    key = r.publicKey;
  } catch {
    return { commit, reason: "bad-signature", message: `commit ${short}'s signature is malformed` };
  }
  for (const parent of parents) {
    const parentTree = await treeOfCommit(w, parent);
    const policy = await readPolicy(w, parentTree);
    const signer = policy.signers.get(key.toString("hex"));
    const changed = await changedPaths(w.cat, w.format, w.trees, parentTree, c.tree);
    if (!signer) {
      const rotated = await rotationBy(w, parentTree, changed, key);
      if (rotated !== undefined) {
        signers.set(commit, `keys/signers/${rotated}.pub's own key`);
        continue;
      }
      return { commit, parent, reason: "unknown-signer", message: `commit ${short} is signed by ${sshFingerprint(key)}, which is not a key in keys/ at its parent ${parent.slice(0, 12)}` };
    }
    signers.set(commit, signer);
    if (changed.length === 0) continue;
    const projects = [...new Set([...(await projectsIn(w, parentTree)), ...(await projectsIn(w, c.tree))])];
    for (const path of changed) {
      const rule = writersOf(policy.config, path, projects);
      if (!mayWrite(rule, signer)) {
        return {
          commit,
          parent,
          reason: "not-allowed",
          signer,
          path,
          rule: rule.rule,
          message: `commit ${short} changes ${path}, which ${signer} (its signer) may not change: ${rule.rule} allows ${rule.anyone ? "anyone" : rule.principals.length ? rule.principals.join(", ") : "no one"}`,
        };
      }
    }
    const quorum = await quorumShortfall(w, policy, parentTree, c.tree, changed, projects, signer);
    if (quorum) return { commit, parent, reason: "not-enough-approvals", signer, path: quorum.paths[0], rule: "write.quorum.admin", message: `commit ${short} ${quorum.message}` };
  }
  return undefined;
}

/**
 * When the rules ask for a quorum of admins (write.quorum.admin), an admin-area change needs
 * that many different admins: its signer, and others who approved exactly this change before
 * it, each with `approvals/admin/<change>/<their name>.json` at the parent (a file only they
 * may write, so its presence is their signed word). Undefined when the quorum is met.
 */
async function quorumShortfall(w: Walk, policy: Policy, parentTree: string, tree: string, changed: string[], projects: string[], signer: string, tainted?: Map<string, Taint>): Promise<{ paths: string[]; message: string } | undefined> {
  const need = adminQuorum(policy.config);
  if (need <= 1) return undefined;
  const paths = changed.filter((p) => areaOf(p, projects).area === "admin");
  if (paths.length === 0) return undefined;
  const change = adminChangeId(await Promise.all(paths.map(async (path) => ({ path, blob: await blobAt(w.cat, w.format, w.trees, tree, path) }))));
  const admins = writersOfArea(policy.config, { area: "admin" });
  const approvers = new Set([signer]);
  const dir = `${APPROVALS_DIR}/admin/${change}`;
  for (const c of await readerOver(w.cat, w.format, { tree: parentTree }, w.trees).children(dir)) {
    const name = c.name.replace(/\.json$/, "");
    // An approval a reader does not trust (its writer was not that admin) counts for nothing.
    if (c.dir || !c.name.endsWith(".json") || tainted?.has(`${dir}/${c.name}`) || !mayWrite(admins, name)) continue;
    approvers.add(name);
  }
  if (approvers.size >= need) return undefined;
  return {
    paths,
    message: `changes ${paths.join(", ")}, which needs ${need} admins (write.quorum.admin) and has ${approvers.size} (${[...approvers].sort().join(", ")}); others approve this change, ${change.slice(0, 12)}, with \`boot-meta approve\` before it is committed`,
  };
}

async function readCommit(w: Walk, commit: string): Promise<ParsedCommit> {
  const o = await w.cat.object(commit);
  if (o?.type !== "commit") throw new BootMetaError("META_GIT_FAILED", `commit ${commit} is missing from the meta repository`, ExitCode.General);
  const c = parseCommit(o.body, w.format);
  w.commitTrees.set(commit, c.tree);
  return c;
}

async function treeOfCommit(w: Walk, commit: string): Promise<string> {
  return w.commitTrees.get(commit) ?? (await readCommit(w, commit)).tree;
}

const TREE = "40000";

function treeEntries(cat: CatFile, format: ObjectFormat, trees: TreeCache, id: string): Promise<Map<string, TreeEntry>> {
  let t = trees.get(id);
  if (!t) {
    t = cat.object(id).then((o) => {
      if (o?.type !== "tree") throw new BootMetaError("META_GIT_FAILED", `tree ${id} is missing from the meta repository`, ExitCode.General);
      return new Map(parseTree(o.body, format).map((e) => [e.name, e]));
    });
    trees.set(id, t);
  }
  return t;
}

/** Every file path that differs between two trees (added, removed or changed), sorted. */
export async function changedPaths(cat: CatFile, format: ObjectFormat, trees: TreeCache, a: string | undefined, b: string | undefined, at = ""): Promise<string[]> {
  if (a === b) return [];
  // Both sides, and every changed folder below, are asked of cat-file at once (it answers in turn).
  const none = Promise.resolve(new Map<string, TreeEntry>());
  const [ea, eb] = await Promise.all([a ? treeEntries(cat, format, trees, a) : none, b ? treeEntries(cat, format, trees, b) : none]);
  const out: string[] = [];
  const below: Promise<string[]>[] = [];
  for (const name of new Set([...ea.keys(), ...eb.keys()])) {
    const x = ea.get(name);
    const y = eb.get(name);
    if (x && y && x.id === y.id && x.mode === y.mode) continue;
    const path = at === "" ? name : `${at}/${name}`;
    const xt = x?.mode === TREE ? x.id : undefined;
    const yt = y?.mode === TREE ? y.id : undefined;
    if (xt || yt) below.push(changedPaths(cat, format, trees, xt, yt, path));
    // A file on either side (or a file turned into a folder, or back) is a change of that path.
    if ((x && x.mode !== TREE) || (y && y.mode !== TREE)) out.push(path);
  }
  for (const paths of await Promise.all(below)) out.push(...paths);
  return out.sort();
}

/** The projects of a root tree (findProjects), once per tree. */
function projectsIn(w: Walk, tree: string): Promise<string[]> {
  let p = w.projects.get(tree);
  if (!p) w.projects.set(tree, (p = findProjects(readerOver(w.cat, w.format, { tree }, w.trees)).then((f) => f.projects)));
  return p;
}

/** The rules and signing keys at a commit: `.boot-meta.yaml` (the defaults when absent) and keys/. */
async function readPolicy(w: Walk, tree: string, tainted?: Map<string, Taint>): Promise<Policy> {
  const r0 = readerOver(w.cat, w.format, { tree }, w.trees);
  // Keyed by what it is read from; a tainted rules or key file (rare) is read afresh.
  if ([...(tainted?.keys() ?? [])].some((p) => p === META_CONFIG || p.startsWith(`${KEYS_DIR}/`))) return policyFrom(w.cat, r0, tainted);
  const key = `${(await r0.entry(META_CONFIG))?.id ?? "-"} ${(await r0.entry(KEYS_DIR))?.id ?? "-"}`;
  let p = w.policies.get(key);
  if (!p) w.policies.set(key, (p = policyFrom(w.cat, r0)));
  return p;
}

async function policyFrom(cat: CatFile, r0: TreeReader, tainted?: Map<string, Taint>): Promise<Policy> {
  // A tainted rules or key file is read at its trusted version (or as absent).
  const r = {
    ...r0,
    read: async (path: string) => {
      const t = tainted?.get(path);
      if (!t) return r0.read(path);
      return t.trusted === undefined ? undefined : ((await cat.object(t.trusted))?.body ?? undefined);
    },
    children: async (dir: string) => {
      const own = await r0.children(dir);
      if (!tainted?.size) return own;
      const names = new Map(own.map((c) => [c.name, c]));
      for (const [path, t] of tainted) {
        if (!path.startsWith(`${dir}/`) || path.slice(dir.length + 1).includes("/")) continue;
        const name = path.slice(dir.length + 1);
        if (t.trusted === undefined) names.delete(name);
        else names.set(name, { name, dir: false });
      }
      return [...names.values()];
    },
  };
  const raw = await r.read(META_CONFIG);
  const config = raw ? parseMetaConfig(decodeUtf8(raw, META_CONFIG)) : DEFAULT_META_CONFIG;
  const signers = new Map<string, string>();
  for (const c of await r.children(KEYS_DIR)) {
    if (c.dir || !c.name.endsWith(".txt")) continue;
    const name = c.name.slice(0, -4);
    let recipients: string[];
    try {
      recipients = parsePrincipalKeys(decodeUtf8((await r.read(`${KEYS_DIR}/${c.name}`)) ?? new Uint8Array(), `${KEYS_DIR}/${c.name}`), name);
    } catch {
      // A key file that does not parse gives its principal no signing key.
      continue;
    }
    for (const k of signingKeysOf(name, recipients)) signers.set(parseSshPublicKey(k.key).toString("hex"), name);
  }
  return { config, signers };
}

/** A path whose newest change was not made by someone allowed to make it. */
export interface Taint {
  /** The blob readers use instead: the path's last trusted content (undefined: it did not exist). */
  trusted: string | undefined;
  /** The commit that changed it without the right, and why. */
  commit: string;
  reason: VerifyReason;
  message: string;
}

/** What a reader with a trust root may use at `head`: every path as committed, except the tainted ones. */
export interface TrustedView {
  root: string;
  head: string;
  /** path → its last trusted version; a path not here is trusted as it is at `head`. */
  tainted: Map<string, Taint>;
  /**
   * Every change to a path made without the right, from the root to `head` (first-parent,
   * oldest first): `${commit}\0${path}` → its taint. What a history shows (a channel's
   * promotions, say) is judged by it: an entry whose commit is here for its path is forged.
   */
  rejected: Map<string, Taint>;
}

/** The taint `commit` gave `path` when it changed it without the right, or undefined when that change was allowed (or never made). */
export function rejectedChange(view: TrustedView, commit: string, path: string): Taint | undefined {
  return view.rejected.get(`${commit}\0${path}`);
}

/**
 * The reader's side of signed history (DESIGN.md "Signing keys for commits"): an unverified
 * change taints only the paths it touched, and a later change to them by an allowed signer
 * (a revert, say) makes them trusted again — so one bad push never freezes a fleet. Walks the
 * branch's first-parent history from the root; a merge counts as one change against its first
 * parent, made by its signer. Who may write is decided by the rules and keys as trusted at the
 * parent (a tainted `.boot-meta.yaml` or key file is read at its trusted version), so a bad
 * commit cannot widen what the next one may do. Remembered under the git directory, so a
 * follower walks only new commits.
 */
export async function trustedView(repoDir: string, o: { root: string; head?: string }): Promise<TrustedView> {
  const git = await Git.open(repoDir);
  const root = await resolveRoot(git, o.root);
  const head = await git.resolve(o.head ?? "HEAD");
  const format: ObjectFormat = head.length === 64 ? "sha256" : "sha1";
  const file = join(git.commonDir, "boot-meta", "views", root);
  // Resume from the last view when it is on this history (it was walked from the root, so
  // the root is then in head's history too, and that need not be walked to again).
  let from = root;
  let tainted = new Map<string, Taint>();
  let rejected = new Map<string, Taint>();
  const saved = await readFile(file, "utf8").then((t) => JSON.parse(t) as { head: string; tainted: [string, Taint][]; rejected?: [string, Taint][] }, () => undefined);
  // A view saved before `rejected` was kept is walked again from the root.
  if (saved && Array.isArray(saved.rejected) && /^[0-9a-f]+$/.test(saved.head) && (saved.head === head || (await git.run(["merge-base", "--is-ancestor", saved.head, head], { reject: false })).exitCode === 0)) {
    from = saved.head;
    tainted = new Map(saved.tainted);
    rejected = new Map(saved.rejected);
  } else if (root !== head && (await git.run(["merge-base", "--is-ancestor", root, head], { reject: false })).exitCode !== 0) {
    throw new BootMetaError("VERIFY_FAILED", `the trust root ${root.slice(0, 12)} is not in the history of ${head.slice(0, 12)}: history was rewritten (a force-push) or the root is from another repository`, ExitCode.General, {
      data: { root, head, reason: "rewritten" },
      suggestions: ["if the rewrite was meant, an admin gives readers a new trust root; otherwise restore the branch from a trusted clone"],
    });
  }
  if (from === head) return { root, head, tainted, rejected };
  const chain = (await git.run(["rev-list", "--reverse", "--first-parent", "--parents", `${from}..${head}`])).stdout.split("\n").filter((l) => l !== "");
  const cat = git.catFile();
  const w = newWalk(cat, format);
  try {
    for (const line of chain) {
      const [commit, parent] = line.split(" ") as [string, string | undefined];
      const c = await readCommit(w, commit);
      const parentTree = parent ? await treeOfCommit(w, parent) : undefined;
      const changed = await changedPaths(cat, format, w.trees, parentTree, c.tree);
      if (changed.length === 0) continue;
      // The parent as a reader trusts it: tainted paths at their trusted versions.
      const policy = parentTree ? await readPolicy(w, parentTree, tainted) : undefined;
      const signer = policy ? await signerOf(c, policy) : undefined;
      const projects = parentTree ? [...new Set([...(await projectsIn(w, parentTree)), ...(await projectsIn(w, c.tree))])] : [];
      // A quorum the change does not have taints its admin-area paths, as a signer's lack of right would.
      const shortfall = policy && parentTree && signer?.name ? await quorumShortfall(w, policy, parentTree, c.tree, changed, projects, signer.name, tainted) : undefined;
      // A release-signing key replaced by a commit its old key signed (rotation by the key's holder).
      const rotated = parentTree && signer?.failure?.reason === "unknown-signer" && signer.key && !tainted.has(changed[0] as string) ? await rotationBy(w, parentTree, changed, signer.key) : undefined;
      for (const path of changed) {
        if (rotated !== undefined) {
          tainted.delete(path);
          continue;
        }
        let why: { reason: VerifyReason; message: string } | undefined = signer?.failure;
        if (!policy) why = { reason: "unrelated-root", message: `commit ${commit.slice(0, 12)} has no parent` };
        else if (!why && signer?.name) {
          const rule = writersOf(policy.config, path, projects);
          if (!mayWrite(rule, signer.name)) why = { reason: "not-allowed", message: `${signer.name} may not change ${path}: ${rule.rule} allows ${rule.anyone ? "anyone" : rule.principals.join(", ") || "no one"}` };
          else if (shortfall?.paths.includes(path)) why = { reason: "not-enough-approvals", message: `it ${shortfall.message}` };
        }
        if (!why) {
          tainted.delete(path);
          continue;
        }
        // The trusted version stays what it was: at the parent, or already-tainted's trusted one.
        const before = tainted.get(path);
        const trusted = before ? before.trusted : parent ? await blobAt(cat, format, w.trees, parentTree, path) : undefined;
        const taint: Taint = { trusted, commit, reason: why.reason, message: `commit ${commit.slice(0, 12)}: ${why.message}` };
        tainted.set(path, taint);
        rejected.set(`${commit}\0${path}`, taint);
      }

    }
  } finally {
    cat.close();
  }
  await mkdir(join(git.commonDir, "boot-meta", "views"), { recursive: true });
  await writeFileAtomic(file, JSON.stringify({ head, tainted: [...tainted], rejected: [...rejected] }));
  return { root, head, tainted, rejected };
}

async function signerOf(c: ParsedCommit, policy: Policy): Promise<{ name?: string; key?: Buffer; failure?: { reason: VerifyReason; message: string } }> {
  if (!c.signature) return { failure: { reason: "unsigned", message: "the commit is not signed" } };
  if (!c.signature.includes("-----BEGIN SSH SIGNATURE-----")) return { failure: { reason: "unsupported-signature", message: "the commit is signed with PGP or X.509, not SSH" } };
  try {
    const r = sshVerify(c.signature, c.payload, "git");
    if (!r.valid) return { failure: { reason: "bad-signature", message: "the signature does not match the commit" } };
    const name = policy.signers.get(r.publicKey.toString("hex"));
    return name ? { name, key: r.publicKey } : { key: r.publicKey, failure: { reason: "unknown-signer", message: `it is signed by ${sshFingerprint(r.publicKey)}, which is not a trusted key in keys/` } };
  } catch {
    return { failure: { reason: "bad-signature", message: "the signature is malformed" } };
  }
}

/**
 * Signer rotation without stranding followers: a commit whose only change is to one
 * release-signing key file, `keys/signers/<name>.pub`, may be signed by a key that file holds
 * at the parent — the old key introduces the new one, so a follower that trusts the old key
 * follows the chain. Returns the signer's name when that is what the commit is.
 */
async function rotationBy(w: Walk, parentTree: string, changed: string[], key: Buffer): Promise<string | undefined> {
  const [only] = changed;
  const m = changed.length === 1 ? /^keys\/signers\/([^/]+)\.pub$/.exec(only as string) : null;
  if (!m) return undefined;
  const before = await readerOver(w.cat, w.format, { tree: parentTree }, w.trees).read(only as string);
  if (!before) return undefined;
  for (const line of Buffer.from(before).toString("utf8").split("\n")) {
    if (!line.trim().startsWith("ssh-ed25519 ")) continue;
    try {
      if (parseSshPublicKey(line.trim()).equals(key)) return m[1];
    } catch {
      /* not a usable key line */
    }
  }
  return undefined;
}

/** The blob id at `path` in a tree, walking by object id. */
async function blobAt(cat: CatFile, format: ObjectFormat, trees: TreeCache, tree: string | undefined, path: string): Promise<string | undefined> {
  let id = tree;
  const parts = path.split("/");
  for (const [i, name] of parts.entries()) {
    if (id === undefined) return undefined;
    const e = (await treeEntries(cat, format, trees, id)).get(name);
    if (!e) return undefined;
    if (i === parts.length - 1) return e.mode === TREE ? undefined : e.id;
    if (e.mode !== TREE) return undefined;
    id = e.id;
  }
  return undefined;
}

/**
 * Who signed a commit, as a reader judges it: the principal whose `ssh-ed25519` key is in
 * keys/ at the commit's first parent (at the commit itself for a first commit). This is who
 * wrote a record, whatever its `created_by` or git's author field claims (anyone can set
 * those); it is not whether the rules let them: {@link verifyHistory} checks that.
 */
export interface CommitSigner {
  /** The principal; null when no key in keys/ signed the commit. */
  principal: string | null;
  /** Why there is no principal. */
  reason?: VerifyReason;
}

/** The signer of each commit (see {@link CommitSigner}), through one `git cat-file`. */
export async function commitSigners(repoDir: string, commits: readonly string[]): Promise<Map<string, CommitSigner>> {
  const out = new Map<string, CommitSigner>();
  if (commits.length === 0) return out;
  const git = await Git.open(repoDir);
  const w = newWalk(git.catFile(), (commits[0] as string).length === 64 ? "sha256" : "sha1");
  try {
    for (const commit of commits) {
      if (out.has(commit)) continue;
      const c = await readCommit(w, commit);
      const parent = c.parents[0];
      const policy = await readPolicy(w, parent ? await treeOfCommit(w, parent) : c.tree);
      const s = await signerOf(c, policy);
      out.set(commit, s.name ? { principal: s.name } : { principal: null, reason: s.failure?.reason });
    }
  } finally {
    w.cat.close();
  }
  return out;
}

/** Words for a signer beside a claimed author: `signed by alice`, `unsigned`, `signed by a key not in keys/`. */
export function describeSigner(s: CommitSigner | undefined): string {
  if (s?.principal) return `signed by ${s.principal}`;
  switch (s?.reason) {
    case "unsigned":
      return "unsigned";
    case "unknown-signer":
      return "signed by a key not in keys/";
    case "unsupported-signature":
      return "signed with PGP or X.509, not checked";
    default:
      return "with a signature that does not verify";
  }
}

/** The newest commit that changed `path` on HEAD's history, its claimed author and its signer; undefined when none did. */
export async function lastChange(repoDir: string, path: string): Promise<{ commit: string; author: string; signer: CommitSigner } | undefined> {
  const git = await Git.open(repoDir);
  const [e] = await git.log({ path, limit: 1 });
  if (!e) return undefined;
  const signer = (await commitSigners(repoDir, [e.hash])).get(e.hash) as CommitSigner;
  return { commit: e.hash, author: `${e.author} <${e.email}>`, signer };
}

/**
 * The admin-area change a commit makes against its first parent, as approvals name it
 * (policy.ts adminChangeId), and the paths it changes. META_GIT_FAILED when it is not a commit
 * with a parent; undefined paths when it changes nothing in the admin area.
 */
export async function adminChangeOf(repoDir: string, rev: string): Promise<{ commit: string; change: string; paths: string[] }> {
  const git = await Git.open(repoDir);
  const commit = await git.resolve(rev);
  const format: ObjectFormat = commit.length === 64 ? "sha256" : "sha1";
  const cat = git.catFile();
  try {
    const w = newWalk(cat, format);
    const c = await readCommit(w, commit);
    const parent = c.parents[0];
    if (parent === undefined) throw new BootMetaError("INVALID_ARGUMENT", `commit ${commit.slice(0, 12)} has no parent: there is no change to approve`, ExitCode.InvalidArgument);
    const parentTree = await treeOfCommit(w, parent);
    const changed = await changedPaths(cat, format, w.trees, parentTree, c.tree);
    const projects = [...new Set([...(await projectsIn(w, parentTree)), ...(await projectsIn(w, c.tree))])];
    const paths = changed.filter((p) => areaOf(p, projects).area === "admin");
    const change = adminChangeId(await Promise.all(paths.map(async (path) => ({ path, blob: await blobAt(cat, format, w.trees, c.tree, path) }))));
    return { commit, change, paths };
  } finally {
    cat.close();
  }
}
