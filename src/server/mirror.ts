import { EventEmitter } from "node:events";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { isUrl } from "../config/bootstrap.js";
import { cachedClone, type ConfigWarning } from "../config/clone.js";
import { type CatFile, Git } from "../meta/git.js";
import { readerOver, type TreeReader } from "../meta/reader.js";
import { trustedReader } from "../meta/trusted-reader.js";
import { findProjects } from "../meta/state.js";
import { type Taint, trustedView } from "../meta/verify.js";

/** One commit that reached the served branch: what changed, never a value. */
export interface Change {
  commit: string;
  /** The first parent (the branch's previous commit); undefined for a root commit. */
  parent: string | undefined;
  /** Paths the commit changed against its first parent, sorted. */
  paths: string[];
  /** The projects those paths belong to (at this commit or, for a removed project, before it). */
  projects: string[];
  /** Commit time, ISO 8601. */
  time: string;
}

/** The project of `projects` a path belongs to: the deepest one it is under (names may have slashes). */
export function projectOfPath(path: string, projects: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const p of projects) if (path.startsWith(`${p}/`) && (best === undefined || p.length > best.length)) best = p;
  return best;
}

/**
 * What a follower that asked for some projects and path prefixes sees of a change: the paths
 * in those projects (a nested project's paths are not its parent's) under those prefixes, and
 * the projects they belong to; undefined when nothing is left. No filter: the change as it is.
 */
export function narrowChange(c: Change, f: { projects?: readonly string[]; prefixes?: readonly string[] }): Change | undefined {
  const projects = new Set(f.projects ?? []);
  const prefixes = f.prefixes ?? [];
  if (projects.size === 0 && prefixes.length === 0) return c;
  const paths = c.paths.filter((p) => (projects.size === 0 || projects.has(projectOfPath(p, c.projects) ?? "")) && (prefixes.length === 0 || prefixes.some((x) => p.startsWith(x))));
  if (paths.length === 0) return undefined;
  return { ...c, paths, projects: c.projects.filter((p) => paths.some((x) => projectOfPath(x, c.projects) === p)) };
}

export interface MirrorOptions {
  /** The meta repo: a local path or a git URL. The server reads only its own clone of it. */
  source: string;
  /** Where the clone lives (default: $XDG_CACHE_HOME/boot-meta/serve). */
  cacheDir?: string;
  /** The branch or tag to serve (default: the remote's default branch). */
  ref?: string;
  environment?: NodeJS.ProcessEnv;
  onWarning?: (w: ConfigWarning) => void;
  /**
   * Verify who wrote what from this commit (README "Signed history"): a path whose newest
   * change was made by someone not allowed is served at its last trusted version.
   */
  trustRoot?: string;
}

/** How many recent changes are kept in memory for clients that resume a stream. */
const RECENT = 1_000;

/**
 * The server's own clone of the meta repo and the commit it serves. `sync()` fetches and, when
 * the served ref moved, emits a `change` event for every commit on the branch (first-parent
 * history, oldest first). Reads go through one `git cat-file --batch` kept open for the
 * mirror's life, by object id (reader.ts), so a client's path never reaches git's line
 * protocol. Syncs are serialised: a sync asked for while one runs runs once more after it, so
 * a push announced during a fetch is never missed.
 */
export class Mirror extends EventEmitter<{ change: [Change]; synced: [string]; error: [unknown] }> {
  readonly source: string;
  /** The commit served; undefined until the first sync. */
  head: string | undefined;
  /** When the last sync that reached the remote finished (ms since the epoch). */
  lastSync: number | undefined;
  /** The last sync's failure, cleared by the next success. */
  lastError: unknown;
  private git: Git | undefined;
  private cat: CatFile | undefined;
  private readers = new Map<string, TreeReader>();
  private recent: Change[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly o: MirrorOptions;
  /** With a trust root: the paths served at their last trusted version, and why (verify.ts). */
  tainted: Map<string, Taint> = new Map();
  /** With a trust root: every change made without the right up to the served commit (verify.ts `rejected`), for histories. */
  rejected: Map<string, Taint> = new Map();

  constructor(o: MirrorOptions) {
    super();
    this.o = o;
    this.source = isUrl(o.source) ? o.source : resolve(o.source);
  }

  get format(): "sha1" | "sha256" {
    return this.head?.length === 64 ? "sha256" : "sha1";
  }

  /** True once a sync has reached the remote (the clone is as new as the remote was then). */
  get ready(): boolean {
    return this.lastSync !== undefined;
  }

  /**
   * Fetches and advances the served commit. Resolves when a sync that started after this call
   * has finished; rejects with its error (META_REMOTE_UNAVAILABLE, say) while the last good
   * commit goes on being served.
   */
  sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running.then(() => this.running ?? this.sync());
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.again = false;
          await this.syncOnce();
        } while (this.again && !this.closed);
      } finally {
        this.running = undefined;
      }
    };
    this.running = run();
    return this.running;
  }

  private async syncOnce(): Promise<void> {
    const env = this.o.environment ?? process.env;
    let c: { dir: string; at: string; stale: boolean };
    try {
      c = await cachedClone(this.source, {
        cacheDir: this.o.cacheDir ?? join(env.XDG_CACHE_HOME || join(env.HOME ?? homedir(), ".cache"), "boot-meta", "serve"),
        env,
        ref: this.o.ref,
        warn: (w) => this.o.onWarning?.(w),
        // The clone's remote was pointed at the source on the first sync; nothing else changes it.
        originChecked: this.git !== undefined,
      });
    } catch (e) {
      this.lastError = e;
      this.emit("error", e);
      throw e;
    }
    this.git ??= await Git.open(c.dir, { isolated: true });
    const next = await this.git.resolve(c.at);
    if (c.stale) {
      // The remote is down: keep serving what we have (or the last fetched copy at start).
      this.lastError = new Error("the meta repository's remote could not be reached");
      if (this.head === undefined) this.head = next;
      return;
    }
    this.lastError = undefined;
    this.lastSync = Date.now();
    const prev = this.head;
    if (prev === next) return;
    const changes = prev === undefined ? [] : await this.changesBetween(prev, next);
    if (this.o.trustRoot !== undefined) {
      const view = await trustedView(this.git.dir, { root: this.o.trustRoot, head: next });
      for (const [path, t] of view.tainted) if (!this.tainted.has(path)) this.o.onWarning?.({ code: "CONFIG_UNVERIFIED", message: `${path} is served at its last trusted version: ${t.message}` });
      this.tainted = view.tainted;
      this.rejected = view.rejected;
    }
    this.head = next;
    // Readers of old commits are dropped; trees are immutable, so the newest one stays valid.
    for (const k of this.readers.keys()) if (k !== next) this.readers.delete(k);
    for (const ch of changes) {
      this.recent.push(ch);
      if (this.recent.length > RECENT) this.recent.shift();
      this.emit("change", ch);
    }
    this.emit("synced", next);
  }

  /**
   * The changes after `from` up to the served commit, oldest first: from memory when recent,
   * else from git. Undefined when `from` is not a commit on the served branch's history (a
   * force-push rewrote it, or the id is not ours): the caller starts over from the head.
   */
  async changesSince(from: string): Promise<Change[] | undefined> {
    const head = this.head;
    if (head === undefined || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(from)) return undefined;
    if (from === head) return [];
    const i = this.recent.findIndex((c) => c.commit === from);
    if (i >= 0) return this.recent.slice(i + 1);
    const git = this.git as Git;
    const ok = await git.run(["merge-base", "--is-ancestor", from, head], { reject: false });
    if (ok.exitCode !== 0) return undefined;
    return this.changesBetween(from, head);
  }

  private async changesBetween(from: string, to: string): Promise<Change[]> {
    const git = this.git as Git;
    const isAncestor = (await git.run(["merge-base", "--is-ancestor", from, to], { reject: false })).exitCode === 0;
    // After a force-push the old commit is not in the new history: report the new head as one
    // change against the old commit, so followers reload what differs.
    const out = isAncestor
      ? await git.runBytes(["log", "--first-parent", "--reverse", "--no-renames", "-m", "--name-only", "-z", "--format=%x01%H %P %ct", `${from}..${to}`])
      : undefined;
    const changes: Change[] = [];
    if (out) {
      for (const chunk of out.toString("utf8").split("\x01").slice(1)) {
        const nul = chunk.indexOf("\0");
        const [commit, parent, ...rest] = chunk.slice(0, nul).split(" ");
        const ct = rest.at(-1) ?? "0";
        const paths = chunk
          .slice(nul + 1)
          .replace(/^\n/, "")
          .split("\0")
          .filter((p) => p !== "");
        changes.push({ commit: commit as string, parent: parent && /^[0-9a-f]+$/.test(parent) ? parent : undefined, paths: [...new Set(paths)].sort(), projects: [], time: new Date(Number(ct) * 1000).toISOString() });
      }
    } else {
      const diff = await git.runBytes(["diff-tree", "-r", "-z", "--no-renames", "--name-only", from, to]);
      const ct = (await git.run(["show", "-s", "--format=%ct", to])).stdout.trim();
      const paths = diff.toString("utf8").split("\0").filter((p) => p !== "");
      changes.push({ commit: to, parent: from, paths: [...new Set(paths)].sort(), projects: [], time: new Date(Number(ct) * 1000).toISOString() });
    }
    const known = [...new Set([...(await this.projectsAt(to)), ...(await this.projectsAt(from))])];
    // A path belongs to the deepest project folder it is under (project names may have slashes).
    const projectOf = (path: string) => known.filter((p) => path.startsWith(`${p}/`)).sort((a, b) => b.length - a.length)[0];
    for (const c of changes) c.projects = [...new Set(c.paths.map(projectOf).filter((p): p is string => p !== undefined))].sort();
    return changes;
  }

  /** The projects at a commit: folders holding a project.yaml (state.ts findProjects). */
  async projectsAt(commit: string): Promise<string[]> {
    return (await findProjects(this.reader(commit))).projects;
  }

  /**
   * A reader of the files at `commit` (default: the served commit). At the served commit, with
   * a trust root, it reads what allowed signers wrote: a tainted path is its last trusted
   * version, or absent (so a token, subscription or channel a non-writer pushed is not there).
   */
  reader(commit: string | undefined = this.head): TreeReader {
    if (commit === undefined) throw new Error("the mirror has not synced yet");
    let r = this.readers.get(commit);
    if (!r) {
      r = readerOver(this.catFile(), commit.length === 64 ? "sha256" : "sha1", commit);
      this.readers.set(commit, r);
    }
    return commit === this.head && this.tainted.size > 0 ? trustedReader(r, this.tainted, (id) => this.blob(id)) : r;
  }

  /** A blob by its id (a tainted path's trusted version). */
  async blob(id: string): Promise<Uint8Array | undefined> {
    const o = await this.catFile().object(id);
    return o?.type === "blob" ? o.body : undefined;
  }

  private target: Promise<{ dir: string; remote: string; branch: string }> | undefined;

  /**
   * Where the service writes what followers report (instance state, events): the branch it
   * serves, on the remote it fetches from (`origin` of its clone). The remote's default branch
   * is asked for once (`ls-remote --symref`), so a default renamed since the clone was made is
   * followed. SERVER_READ_ONLY when the service follows a tag, or the remote names no branch.
   */
  writeTarget(): Promise<{ dir: string; remote: string; branch: string }> {
    this.target ??= this.findTarget();
    this.target.catch(() => (this.target = undefined));
    return this.target;
  }

  private async findTarget(): Promise<{ dir: string; remote: string; branch: string }> {
    const git = this.git;
    if (!git) throw new Error("the mirror has not synced yet");
    const readOnly = (why: string) =>
      new BootMetaError("SERVER_READ_ONLY", `the service cannot write to ${this.source}: ${why}`, ExitCode.General, {
        suggestions: ["serve a branch (--ref BRANCH, or the remote's default branch) of a remote this service may push to"],
      });
    let branch = this.o.ref;
    if (branch === undefined) {
      const r = await git.run(["ls-remote", "--symref", "origin", "HEAD"], { reject: false });
      branch = /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(r.stdout)?.[1];
      if (branch === undefined) {
        const local = await git.run(["symbolic-ref", "-q", "refs/remotes/origin/HEAD"], { reject: false });
        branch = /^refs\/remotes\/origin\/(\S+)$/.exec(local.stdout.trim())?.[1];
      }
      if (branch === undefined) throw readOnly("its remote does not say which branch is its default");
    } else if ((await git.run(["rev-parse", "--verify", "-q", `refs/remotes/origin/${branch}`], { reject: false })).exitCode !== 0) {
      throw readOnly(`${branch} is not a branch of the remote (a tag is served read-only)`);
    }
    return { dir: git.dir, remote: "origin", branch };
  }

  /** The trust root it serves from (`--trust-root`), if any: a load at a served commit reads the same trusted view. */
  get trustRoot(): string | undefined {
    return this.o.trustRoot;
  }

  /** The clone's directory (for plumbing the routes need: rev-list, show). */
  get gitDir(): string | undefined {
    return this.git?.dir;
  }

  private catFile(): CatFile {
    if (!this.cat) {
      const git = this.git;
      if (!git) throw new Error("the mirror has not synced yet");
      const cat = git.catFile();
      // A cat-file that stopped (the clone was repacked under it) is reopened on the next read.
      this.cat = {
        object: (spec) =>
          cat.object(spec).catch((e: unknown) => {
            if (isBootMetaError(e, "META_GIT_FAILED") && this.cat !== undefined) {
              this.cat = undefined;
              this.readers.clear();
            }
            throw e;
          }),
        read: (spec) => cat.read(spec),
        close: () => cat.close(),
      };
    }
    return this.cat;
  }

  /** Stops reading; a sync in flight finishes first. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
    this.cat?.close();
    this.cat = undefined;
    this.readers.clear();
    this.removeAllListeners();
  }
}
