import { lstat, open, readdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BootMetaError, ExitCode } from "../errors.js";
import { type CatFile, configBool, Git, type RepoSettings } from "./git.js";
import { gitTimestamp, importStream, type ObjectFormat, parseTree, planImport, type TreeEntry } from "./objects.js";
import { validateRepoPath } from "./layout.js";
import { decodeName, encodeName, showPath } from "./names.js";
import { byName, readerOver } from "./reader.js";

/** What a write sees: the files of the commit it builds on, and where it writes. */
export interface Tx {
  /** The commit this attempt reads from (undefined in an empty repository). */
  readonly base: string | undefined;
  /** Who the commit names as its author: "Name <email>" (records say who made them with it). */
  readonly author: string;
  read(path: string): Promise<Uint8Array | undefined>;
  list(dir: string): Promise<string[]>;
  /** What is directly in `dir`: names, and whether each is a directory. */
  children(dir: string): Promise<{ name: string; dir: boolean }[]>;
  write(path: string, data: Uint8Array | string): void;
  remove(path: string): void;
}

export interface CommitOptions<T = unknown> {
  /** The commit message, or a function of what `fn` returned (when the plan decides what to say). */
  message: string | ((value: T) => string);
  /** "Name <email>"; default: the repository's git config. */
  author?: string;
  /** Push to the branch's remote; default: git config `boot-meta.push`. */
  push?: boolean;
  maxAttempts?: number;
  /** How long to keep retrying a push that keeps losing races (default 5 minutes). */
  maxWaitMs?: number;
  /** How long the remote's ref lock may stay taken before it counts as left by a dead push (default 20 s). */
  remoteLockStuckMs?: number;
  onProgress?: (event: { phase: string; attempt: number }) => void;
}

export interface CommitResult<T> {
  value: T;
  /** The new commit; undefined when nothing changed. */
  commit: string | undefined;
  pushed: boolean;
  attempts: number;
}

const LOCK = "boot-meta.lock";
/** Where a branch move in progress is noted (from and to), until the work tree has followed. */
const MOVING = "boot-meta.moving";
/** How long the remote's ref lock may stay taken before it counts as left behind by a dead push. */
const REMOTE_LOCK_STUCK_MS = 20_000;
const STALE_MS = 10 * 60_000;

/**
 * Runs `fn` against the committed state, commits exactly what it wrote as one commit, and
 * pushes. The branch moves with `update-ref NEW OLD` (a compare-and-swap), so a crash at
 * any point leaves either the old or the new commit, never half of one. When the push is
 * rejected because someone else pushed first, the remote is fetched and `fn` runs again on
 * top of it — its reads see the new state, so a compare-and-swap inside it fails cleanly —
 * and the push is retried. Never a force push.
 */
export async function commitChanges<T>(repoDir: string, o: CommitOptions<T>, fn: (tx: Tx) => Promise<T>): Promise<CommitResult<T>> {
  const git = await Git.at(repoDir);
  const branch = await git.branch();
  const settings = await git.settings();
  const push = o.push ?? configBool(settings.config.get("boot-meta.push")) === true;
  const remote = push ? remoteOf(settings, branch) : undefined;
  const release = await lock(git);
  try {
    const startHead = await git.head();
    return await writeLoop(git, settings, o, fn, {
      branch,
      remote,
      start: startHead,
      // Before anything leaves this machine: the files we write must not hold the user's
      // uncommitted edits, or the work tree could not follow the branch without losing them.
      check: (cat, format, writes) => refuseDirty(git, cat, format, startHead, writes),
      land: (commit, message, writes) => moveBranch(git, branch, startHead, commit, message, writes),
      async stranded(commit, message, writes, why) {
        await moveBranch(git, branch, startHead, commit, message, writes);
        return new BootMetaError("META_REMOTE_UNAVAILABLE", `committed locally as ${commit.slice(0, 12)}, but pushing to ${remote} failed: ${why}`, ExitCode.General, {
          data: { remote, commit },
          suggestions: ["check that the remote is reachable, then run `git push` in the meta repo"],
        });
      },
      async theirs(base) {
        await git.fetch(["-q", "--no-auto-maintenance", remote as string, branch], remote);
        const theirs = await fetchHead(git);
        if (base === startHead && startHead && (await git.run(["merge-base", "--is-ancestor", startHead, theirs], { reject: false })).exitCode !== 0) {
          // Our branch has commits the remote does not: rebuilding on theirs would drop them.
          const unpushed = (await git.run(["rev-list", "--count", `${theirs}..${startHead}`])).stdout.trim();
          if (unpushed !== "0") {
            throw new BootMetaError("META_DIVERGED", `the local branch ${branch} has ${unpushed} commit(s) that ${remote} does not, and ${remote} has moved on: boot-meta will not rebase them for you`, ExitCode.Conflict, {
              suggestions: ["in the meta repo: `git pull --rebase && git push`, then run the command again"],
            });
          }
        }
        return theirs;
      },
    });
  } finally {
    await release();
    await autoGc(git, settings).catch(() => undefined);
  }
}

/**
 * The same write as {@link commitChanges}, for a clone without a work tree (the config
 * service's own, `git clone --no-checkout`): planned on `base` (the commit the caller serves),
 * committed, and pushed straight to `branch` of `remote`. No local branch, index or work tree
 * moves; the caller fetches to see its commit. A lost push race fetches the remote's branch
 * into a ref of its own (never FETCH_HEAD, which the caller's fetches share) and runs `fn`
 * again on it. A push that fails otherwise changes nothing anywhere (META_REMOTE_UNAVAILABLE).
 */
export async function commitOnto<T>(repoDir: string, o: Omit<CommitOptions<T>, "push"> & { remote: string; branch: string; base: string | undefined }, fn: (tx: Tx) => Promise<T>): Promise<CommitResult<T>> {
  const git = await Git.open(repoDir, { isolated: true });
  const settings = await git.settings();
  const release = await lock(git);
  const tracking = `refs/boot-meta/write-base/${Buffer.from(o.branch).toString("hex")}`;
  try {
    return await writeLoop(git, settings, o, fn, {
      branch: o.branch,
      remote: o.remote,
      start: o.base,
      check: async () => undefined,
      land: async () => undefined,
      async stranded(commit, _message, _writes, why) {
        return new BootMetaError("META_REMOTE_UNAVAILABLE", `pushing ${commit.slice(0, 12)} to ${o.remote} (branch ${o.branch}) failed: ${why}; nothing was changed`, ExitCode.General, {
          data: { remote: o.remote, branch: o.branch },
          suggestions: ["check that the remote is reachable and takes pushes from this service (a bare repository or a git host, with credentials for it)"],
        });
      },
      async theirs() {
        await git.fetch(["-q", "--no-auto-maintenance", "--no-write-fetch-head", o.remote, `+refs/heads/${o.branch}:${tracking}`], o.remote);
        return git.resolve(tracking);
      },
    });
  } finally {
    await release();
    await autoGc(git, settings).catch(() => undefined);
  }
}

/** Where a write lands, and how the local side follows it. */
interface Landing {
  branch: string;
  /** Where to push; undefined: the commit stays local. */
  remote: string | undefined;
  /** The commit the first attempt builds on. */
  start: string | undefined;
  /** Refuses a commit before it leaves this machine. */
  check(cat: CatFile, format: ObjectFormat, writes: Map<string, Uint8Array | null>): Promise<void>;
  /** The commit is pushed (or there is no remote): the local side follows it. */
  land(commit: string, message: string, writes: Map<string, Uint8Array | null>): Promise<void>;
  /** The push failed, and not for a lost race: what is left where, as the error to throw. */
  stranded(commit: string, message: string, writes: Map<string, Uint8Array | null>, why: string): Promise<BootMetaError>;
  /** After a lost race: the remote's newest commit of the branch, fetched, to build on next. */
  theirs(base: string | undefined): Promise<string>;
}

/** Plan, commit, push; on a lost race, wait, fetch and plan again on the newest state. */
async function writeLoop<T>(git: Git, settings: RepoSettings, o: Omit<CommitOptions<T>, "push">, fn: (tx: Tx) => Promise<T>, l: Landing): Promise<CommitResult<T>> {
  const who = identities(settings, o.author);
  const format: ObjectFormat = settings.config.get("extensions.objectformat") === "sha256" ? "sha256" : "sha1";
  const sign = configBool(settings.config.get("commit.gpgsign")) === true;
  const { branch, remote } = l;
  // Many writers on one remote each lose races before they win one: keep trying for a
  // while, with a jittered growing backoff, and give up only when it is clearly stuck.
  const maxAttempts = o.maxAttempts ?? Number.POSITIVE_INFINITY;
  const deadline = Date.now() + (o.maxWaitMs ?? 300_000);
  // One reader for every attempt: objects fetched later are found too (git looks again on a miss).
  const cat = git.catFile();
  try {
    let base = l.start;
    let lockedSince: number | undefined;
    for (let attempt = 1; ; attempt++) {
      o.onProgress?.({ phase: "plan", attempt });
      const { value, writes } = await plan(cat, format, base, who.author, fn);
      const message = typeof o.message === "function" ? o.message(value) : o.message;
      const commit = writes.size === 0 ? undefined : await makeCommit(git, cat, format, base, writes, message, who, sign);
      if (commit === undefined) return { value, commit: undefined, pushed: false, attempts: attempt };
      await l.check(cat, format, writes);
      let pushed = false;
      if (remote) {
        o.onProgress?.({ phase: "push", attempt });
        // Push the commit itself first: a lost race then leaves the local branch untouched.
        const r = await git.push(remote, `${commit}:refs/heads/${branch}`);
        if (!r.pushed) {
          if (!r.lostRace) throw await l.stranded(commit, message, writes, r.why);
          // A ref lock held by another push lasts milliseconds; one that stays is a push that
          // died on the remote's side, and only a person can tell that nothing is running.
          const lockFile = r.lockFile;
          if (!lockFile) lockedSince = undefined;
          else if (lockedSince === undefined) lockedSince = Date.now();
          else if (Date.now() - lockedSince > (o.remoteLockStuckMs ?? REMOTE_LOCK_STUCK_MS)) {
            throw new BootMetaError("META_REMOTE_LOCKED", `${remote} has kept its branch ${branch} locked for over ${(o.remoteLockStuckMs ?? REMOTE_LOCK_STUCK_MS) / 1000} s (${lockFile.replace("/./", "/")}): a push that died there left its lock; nothing was changed`, ExitCode.Conflict, {
              data: { remote, lockFile },
              suggestions: [`if no push to ${remote} is running, remove that lock file on the remote's machine, then run the command again`],
            });
          }
          if (attempt >= maxAttempts || Date.now() > deadline) {
            throw new BootMetaError("META_PUSH_CONFLICT", `could not push after ${attempt} attempts: others kept pushing to ${remote} first; nothing was changed`, ExitCode.Conflict, {
              data: { remote, attempts: attempt },
              suggestions: ["run the command again"],
            });
          }
          // Someone pushed first: wait (jittered, doubling up to 3 s), then rebuild our change on
          // top of the newest remote state and push at once, before it goes stale again. With
          // 8 writers on 2 cores a 250 ms cap kept everyone fetching and losing: measured, the
          // writers took twice as long as with this one.
          o.onProgress?.({ phase: "rebase", attempt });
          await sleep(Math.floor(Math.random() * Math.min(3000, 50 * 2 ** Math.min(attempt, 8))));
          base = await l.theirs(base);
          continue;
        }
        pushed = true;
      }
      await l.land(commit, message, writes);
      return { value, commit, pushed, attempts: attempt };
    }
  } finally {
    cat.close();
  }
}

/**
 * fast-import leaves a small write's objects loose and a large one's as a pack of its own, and
 * nothing boot-meta runs would otherwise pack them (git commit and git fetch run `gc --auto`;
 * fast-import, update-ref and push do not). So after a write, when either of git's own
 * thresholds is passed — the sample directory git looks at (objects/17) holding more than
 * gc.auto/256 objects, or more than gc.autoPackLimit packs — run `git gc --auto`, which
 * decides for itself and, by default, carries on in the background. Honours gc.auto = 0.
 */
async function autoGc(git: Git, s: RepoSettings): Promise<void> {
  const limit = Number(s.config.get("gc.auto") ?? 6700);
  if (!Number.isFinite(limit) || limit <= 0) return;
  const packLimit = Number(s.config.get("gc.autopacklimit") ?? 50);
  const [sample, packDir] = await Promise.all([readdir(join(git.objectsDir, "17")).catch(() => [] as string[]), readdir(join(git.objectsDir, "pack")).catch(() => [] as string[])]);
  const packs = packDir.filter((f) => f.endsWith(".pack") && !packDir.includes(f.replace(/\.pack$/, ".keep"))).length;
  if (sample.length <= Math.ceil(limit / 256) && !(packLimit > 0 && packs > packLimit)) return;
  await git.run(["gc", "--auto", "--quiet"], { reject: false });
}

/** The commit a `git fetch REMOTE BRANCH` brought (the first line of FETCH_HEAD, which is the work tree's own). */
async function fetchHead(git: Git): Promise<string> {
  const text = await readFile(join(git.gitDir, "FETCH_HEAD"), "utf8").catch(() => "");
  const m = /^([0-9a-f]{40,64})\t/.exec(text);
  return m ? (m[1] as string) : git.resolve("FETCH_HEAD");
}

/**
 * Moves the local branch to `commit` by compare-and-swap (refused if another writer moved
 * it meanwhile) and brings the index and work tree along.
 */
async function moveBranch(git: Git, branch: string, from: string | undefined, commit: string, message: string, writes: Map<string, Uint8Array | null>): Promise<void> {
  // Noted first, in a file of its own: a writer killed between the two steps below leaves
  // the index behind the branch, and the next writer finishes the move (finishMove). The
  // note outlives any lock, so a writer killed while finishing someone else's move is
  // finished in turn.
  await writeFile(movingPath(git), `${from ?? ""} ${commit}\n`);
  try {
    const moved = await git.run(["update-ref", "-m", `boot-meta: ${message.split("\n")[0]}`, `refs/heads/${branch}`, commit, from ?? ""], { reject: false });
    if (moved.exitCode !== 0) throw conflict(`the branch ${branch} moved while boot-meta was writing`);
    await syncWorkTree(git, from, commit, writes);
  } finally {
    await unlink(movingPath(git)).catch(() => undefined);
  }
}

const movingPath = (git: Git) => join(git.gitDir, MOVING);

/**
 * Finishes a branch move that a killed writer started: when HEAD is where it was going, the
 * index and work tree follow it (a two-tree merge: edits made since are kept; if they are in
 * the way, the index alone follows and the work tree keeps them). Safe to run again.
 */
async function finishMove(git: Git): Promise<void> {
  const text = await readFile(movingPath(git), "utf8").catch(() => undefined);
  if (text === undefined) return;
  const m = /^([0-9a-f]{40,64})? ([0-9a-f]{40,64})\n/.exec(text);
  if (m && (await git.head()) === m[2]) {
    const to = m[2] as string;
    const r = await git.run(m[1] ? ["read-tree", "-m", "-u", m[1], to] : ["read-tree", "-m", "-u", to], { reject: false });
    if (r.exitCode !== 0) await git.run(["reset", "-q", "--mixed", to], { reject: false });
  }
  await unlink(movingPath(git)).catch(() => undefined);
}

async function plan<T>(cat: CatFile, format: ObjectFormat, base: string | undefined, author: string, fn: (tx: Tx) => Promise<T>): Promise<{ value: T; writes: Map<string, Uint8Array | null> }> {
  const writes = new Map<string, Uint8Array | null>();
  // The base commit's files, with this attempt's own writes laid over them.
  const committed = readerOver(cat, format, base);
  const tx: Tx = {
    base,
    author,
    // Reads take any name a tree holds (a backslash, a line break: names.ts, reader.ts), so a
    // file someone committed under an odd name never stops a write elsewhere; only what this
    // write creates must be a path safe to check out.
    async read(path) {
      if (writes.has(path)) return writes.get(path) ?? undefined;
      return committed.read(path);
    },
    async list(dir) {
      const d = dir.replace(/\/$/, "");
      const out = new Set(await committed.list(d));
      for (const [p, v] of writes) if (d === "" || p.startsWith(`${d}/`)) (v === null ? out.delete(p) : out.add(p));
      return [...out].sort();
    },
    async children(dir) {
      const d = dir.replace(/\/$/, "");
      const prefix = d === "" ? "" : `${d}/`;
      const out = new Map((await committed.children(d)).map((e) => [e.name, e.dir]));
      for (const [p, v] of writes) {
        if (!p.startsWith(prefix)) continue;
        const rest = p.slice(prefix.length);
        const slash = rest.indexOf("/");
        if (slash >= 0) {
          if (v !== null) out.set(rest.slice(0, slash), true);
        } else if (v === null) out.delete(rest);
        else out.set(rest, false);
      }
      return [...out].map(([name, isDir]) => ({ name, dir: isDir })).sort(byName);
    },
    write(path, data) {
      validateRepoPath(path);
      writes.set(path, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    },
    remove(path) {
      validateRepoPath(path);
      writes.set(path, null);
    },
  };
  const value = await fn(tx);
  return { value, writes };
}

/**
 * The commit of `writes` on top of `base`: checked and planned here against the base's trees
 * (objects.ts), then built by one `git fast-import`, which writes its objects and prints the
 * commit's id; no ref moves. Undefined when the resulting tree is the base's (writing the
 * bytes that are already there is not a change), without starting git.
 */
async function makeCommit(git: Git, cat: CatFile, format: ObjectFormat, base: string | undefined, writes: Map<string, Uint8Array | null>, message: string, who: Idents, sign: boolean): Promise<string | undefined> {
  const readTree = async (id: string): Promise<TreeEntry[]> => {
    const o = await cat.object(id);
    if (o?.type !== "tree") throw new BootMetaError("META_GIT_FAILED", `tree ${id} is missing from the meta repository`, ExitCode.General, { suggestions: ["run `git fsck` in the meta repo"] });
    return parseTree(o.body, format);
  };
  const baseTree = base ? await treeOf(cat, base) : undefined;
  const planned = await planImport(format, readTree, baseTree, writes);
  if (!planned.changed) return undefined;
  const now = gitTimestamp();
  const author = who.authorDated ?? `${who.author} ${now}`;
  const committer = who.committerDated ?? `${who.committer} ${now}`;
  const commit = (await git.run(["fast-import", "--quiet", "--date-format=raw"], { input: importStream(planned, { base, author, committer, message }) })).stdout.trim();
  if (!sign) return commit;
  // With commit.gpgSign the commit goes through `git commit-tree -S`, which signs it as git
  // commit would (gpg.format, user.signingKey); commit-tree does not read commit.gpgSign itself.
  const [an, ae] = splitIdent(author);
  const [cn, ce] = splitIdent(committer);
  const env = { ...process.env, GIT_AUTHOR_NAME: an, GIT_AUTHOR_EMAIL: ae, GIT_COMMITTER_NAME: cn, GIT_COMMITTER_EMAIL: ce };
  return (await git.run(["commit-tree", "-S", await treeOf(cat, commit), ...(base ? ["-p", base] : []), "-F", "-"], { env, input: message.endsWith("\n") ? message : `${message}\n` })).stdout.trim();
}

/** The tree a commit points at, read through the open cat-file. */
async function treeOf(cat: CatFile, commit: string): Promise<string> {
  const c = await cat.object(commit);
  const tree = c?.type === "commit" ? /^tree ([0-9a-f]+)/.exec(Buffer.from(c.body).toString("latin1"))?.[1] : undefined;
  if (!tree) throw new BootMetaError("META_GIT_FAILED", `commit ${commit} is missing from the meta repository`, ExitCode.General, { suggestions: ["run `git fsck` in the meta repo"] });
  return tree;
}

function splitIdent(ident: string): [string, string] {
  const m = /^(.*?)\s*<([^>]*)>/.exec(ident);
  return [m?.[1] ?? "", m?.[2] ?? ""];
}

interface Idents {
  author: string;
  committer: string;
  authorDated?: string;
  committerDated?: string;
}

/** Who a commit names: --author if given, else git's identity; the committer is git's (or the author). */
function identities(s: RepoSettings, author?: string): Idents {
  if (author) {
    const m = /^\s*(.+?)\s*<([^>]+)>\s*$/.exec(author);
    if (!m) throw new BootMetaError("INVALID_ARGUMENT", `--author must look like "Name <email>", got ${JSON.stringify(author)}`, ExitCode.InvalidArgument);
    const a = `${m[1]} <${m[2]}>`;
    // With no git identity on the machine, the author commits too.
    return { author: a, committer: s.committer ?? a, committerDated: s.committer ? s.committerDated : undefined };
  }
  if (!s.author || !s.committer) {
    throw new BootMetaError("META_NO_GIT_IDENTITY", "git does not know who you are, and every change to the meta repo is a commit", ExitCode.General, {
      suggestions: ['git config --global user.name "Your Name" && git config --global user.email you@example.com', "or pass --author 'Name <email>'"],
    });
  }
  return { author: s.author, committer: s.committer, authorDated: s.authorDated, committerDated: s.committerDated };
}

/**
 * Brings the index and work tree from `from` to `to`: a two-tree merge, so the user's
 * unrelated uncommitted edits stay, and an edit to a file we changed is an error, not lost.
 */
async function syncWorkTree(git: Git, from: string | undefined, to: string, writes: Map<string, Uint8Array | null>): Promise<void> {
  const args = from ? ["read-tree", "-m", "-u", from, to] : ["read-tree", "-m", "-u", to];
  let r = await git.run(args, { reject: false });
  // A file touched since the dirty check has stale stat information in the index, and
  // read-tree refuses it: refreshed, an unchanged one goes through.
  if (r.exitCode !== 0) {
    await git.run(["update-index", "-q", "--refresh"], { reject: false });
    r = await git.run(args, { reject: false });
  }
  if (r.exitCode !== 0) {
    // Someone edited one of these files after the check in commitChanges. The index follows
    // the branch (so `git status` does not show our commit reverted as a staged change), and
    // the work tree keeps their edits, now shown as changes against the new commit.
    await git.run(["reset", "-q", "--mixed", to], { reject: false });
    throw new BootMetaError("META_DIRTY_WORKTREE", `committed ${to.slice(0, 12)}, but files it changes were edited in the work tree meanwhile (${[...writes.keys()].slice(0, 5).map(showPath).join(", ")}); your edits were kept, as changes against the new commit`, ExitCode.General, {
      suggestions: ["look at `git diff` in the meta repo; `git checkout -- FILE` takes the committed version"],
    });
  }
}

/**
 * Refuses a write to a file that has uncommitted edits in the work tree or the index (or an
 * untracked file in the way, or a deletion), compared with the commit the work tree is at.
 * The index's stat information is refreshed first: a file touched but unchanged is clean,
 * both here and for the read-tree that brings the work tree along (syncWorkTree), which
 * would otherwise refuse it after the branch had moved — a half-applied write. Names come
 * back from git NUL-separated (`-z`), as bytes.
 */
async function refuseDirty(git: Git, cat: CatFile, format: ObjectFormat, head: string | undefined, writes: Map<string, Uint8Array | null>): Promise<void> {
  await git.run(["update-index", "-q", "--refresh"], { reject: false });
  const changed = new Set<string>();
  if (head) {
    const r = await git.runBytes(["diff-index", "-z", "--name-only", "--no-renames", head]);
    for (const name of splitNul(r)) changed.add(decodeName(name));
  }
  const committed = readerOver(cat, format, head);
  const dirty: string[] = [];
  for (const path of writes.keys()) {
    if (changed.has(path)) dirty.push(path);
    // A tracked path that git did not list is clean (a directory: the files under it that
    // this write touches are among the writes). An untracked one is clean only when nothing
    // is on disk in its way.
    else if (!(await committed.entry(path)) && (await lstat(onDisk(git, path)).then(() => true, () => false))) dirty.push(path);
  }
  if (dirty.length === 0) return;
  throw new BootMetaError("META_DIRTY_WORKTREE", `the meta repo has uncommitted changes to ${dirty.slice(0, 5).map(showPath).join(", ")}${dirty.length > 5 ? ", …" : ""}, which this command writes; nothing was changed`, ExitCode.General, {
    data: { files: dirty },
    suggestions: ["commit or discard them first (`git -C META status`, `git diff`), then run the command again"],
  });
}

/** A repository path in the work tree, as bytes (a name that is not UTF-8 stays itself). */
const onDisk = (git: Git, path: string) => Buffer.concat([Buffer.from(`${git.dir}/`), encodeName(path)]);

function splitNul(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  for (let nul = b.indexOf(0, off); nul >= 0; nul = b.indexOf(0, off)) {
    if (nul > off) out.push(b.subarray(off, nul));
    off = nul + 1;
  }
  return out;
}

function remoteOf(s: RepoSettings, branch: string): string | undefined {
  const configured = s.config.get(`branch.${branch}.remote`);
  if (configured) return configured;
  const remotes = [...s.config.keys()].flatMap((k) => /^remote\.(.+)\.url$/.exec(k)?.[1] ?? []);
  return remotes.includes("origin") ? "origin" : remotes[0];
}

function conflict(why: string): BootMetaError {
  return new BootMetaError("META_CONCURRENT_WRITE", `${why}; nothing was changed by this command`, ExitCode.Conflict, { suggestions: ["run the command again"] });
}

/**
 * A lock file in the work tree's git directory so writers on one clone take turns (each
 * linked worktree has its own branch, index and lock); a dead writer's lock goes stale.
 */
async function lock(git: Git): Promise<() => Promise<void>> {
  const path = join(git.gitDir, LOCK);
  for (let i = 0; ; i++) {
    try {
      const fh = await open(path, "wx");
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      const release = () => unlink(path).catch(() => undefined);
      // Holding the lock now: finish whatever a killed writer left half done.
      await finishMove(git).catch(async (err: unknown) => {
        await release();
        throw err;
      });
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (await isStale(path)) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      if (i > 600) throw conflict("another boot-meta process has held the repository lock for over a minute");
      await sleep(50 + Math.random() * 100);
    }
  }
}

async function isStale(path: string): Promise<boolean> {
  try {
    const [text, st] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    const pid = Number(text.trim());
    if (Date.now() - st.mtimeMs > STALE_MS) return true;
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - st.mtimeMs > 5_000;
    try {
      process.kill(pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ESRCH";
    }
  } catch {
    return false;
  }
}
