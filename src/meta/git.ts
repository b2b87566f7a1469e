import { existsSync, promises as fsp, readFileSync } from "node:fs";
import { statOrNothing } from "../io.js";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import type { FetchResult, PushResult, SimpleGit } from "simple-git";
import { BootMetaError, ExitCode } from "../errors.js";
import { showPath } from "./names.js";
import { formatBytes, limitExceeded, limits } from "../limits.js";
import { ObjectFiles } from "./object-files.js";

/** What boot-meta asks of a child process: text out, never a throw on a non-zero exit unless asked. */
export interface ProcOptions {
  cwd?: string;
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  reject?: boolean;
  stripFinalNewline?: boolean;
}

/**
 * execa, loaded on first use: its ~100 modules are a third of the CLI's start-up, and reads
 * (cat-file through node:child_process) never need it.
 */
let execaModule: typeof import("execa") | undefined;
export async function execa(file: string, args: string[], o: ProcOptions = {}): Promise<{ stdout: string; stderr: string; exitCode: number | undefined }> {
  execaModule ??= await import("execa");
  const r = await execaModule.execa(file, args, { cwd: o.cwd, input: o.input, env: o.env, reject: o.reject ?? true, stripFinalNewline: o.stripFinalNewline ?? true });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode };
}

/**
 * node:child_process, loaded on the first git process: a config load reads git's files itself
 * (object-files.ts) and starts none, and loading the module cost its cold start ~3 ms.
 */
type Spawn = typeof import("node:child_process").spawn;
let childProcess: typeof import("node:child_process") | undefined;
const spawn = ((...args: Parameters<Spawn>) => {
  childProcess ??= createRequire(import.meta.url)("node:child_process") as typeof import("node:child_process");
  return childProcess.spawn(...args);
}) as Spawn;

/** Variables that tell git where a repository is: they win over the directory git runs in. */
const LOCATION_VARS = ["GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE"];

/** The environment without {@link LOCATION_VARS}: for a repository of boot-meta's own (the loader's cache). */
export function isolatedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of LOCATION_VARS) delete out[k];
  return out;
}

/** Where a repository keeps its parts; a linked worktree (or GIT_DIR) splits them. */
interface Dirs {
  /** The top of the work tree. */
  dir: string;
  /** This work tree's own git directory: HEAD, the index, FETCH_HEAD, boot-meta's lock. */
  gitDir: string;
  /** The directory shared by every worktree: refs, packed-refs, config. */
  commonDir: string;
  /** Where objects go (GIT_OBJECT_DIRECTORY honoured). */
  objectsDir: string;
}

/** Repositories already found, by directory and the location variables in force: git is asked once. */
const opened = new Map<string, Promise<Dirs>>();

/**
 * The one place boot-meta runs git: the real `git` binary, so any remote and any git
 * config the user has works. Reads at a commit go through `git cat-file --batch` (one
 * process for any number of files), never through a checkout. Names cross to git only as
 * object ids or through `-z` forms, never as lines (see names.ts). Clone and fetch go
 * through simple-git (typed results and errors), and so does push (bench/git.bench.mjs: it
 * costs what a spawned `git push` does, 52 ms against 53 ms to a bare remote); plumbing (cat-file, fast-import, update-ref) is
 * spawned directly.
 */
export class Git {
  readonly dir: string;
  readonly gitDir: string;
  readonly commonDir: string;
  readonly objectsDir: string;
  /** The environment every git process of this repository gets (undefined: this process's). */
  readonly env: NodeJS.ProcessEnv | undefined;
  private constructor(d: Dirs, env: NodeJS.ProcessEnv | undefined) {
    this.dir = d.dir;
    this.gitDir = d.gitDir;
    this.commonDir = d.commonDir;
    this.objectsDir = d.objectsDir;
    this.env = env;
  }

  /**
   * Opens the repository containing `dir` (any subdirectory works): a linked worktree and
   * GIT_DIR / GIT_WORK_TREE work, because git says where its directories are
   * (`rev-parse --git-dir --git-common-dir`), once per repository and process.
   * `isolated` ignores the location variables (a repository boot-meta owns).
   */
  static async open(dir: string, o: { isolated?: boolean } = {}): Promise<Git> {
    const abs = resolve(dir);
    const base = o.isolated ? isolatedEnv() : absoluteLocation(process.env);
    const key = [abs, ...LOCATION_VARS.map((k) => base[k] ?? "")].join("\0");
    let found = opened.get(key);
    if (!found) {
      found = locate(abs, base);
      opened.set(key, found);
      found.catch(() => opened.delete(key));
    }
    const d = await found;
    return new Git(d, o.isolated ? base : envFor(d, base));
  }

  /**
   * Opens a work tree whose top level is known (`dir/.git` is a directory, no location
   * variable set) without running git: the config loader's hot path. Falls back to
   * {@link Git.open} otherwise.
   */
  static async at(dir: string): Promise<Git> {
    const d = resolve(dir);
    if (LOCATION_VARS.some((k) => process.env[k])) return Git.open(d);
    const st = statOrNothing(join(d, ".git"));
    if (!st?.isDirectory()) return Git.open(d);
    const gitDir = join(d, ".git");
    return new Git({ dir: d, gitDir, commonDir: gitDir, objectsDir: join(gitDir, "objects") }, undefined);
  }

  static async init(dir: string, opts: { branch?: string } = {}): Promise<Git> {
    await execa("git", ["init", "-q", "-b", opts.branch ?? "main", resolve(dir)]);
    return Git.open(dir);
  }

  /**
   * `git clone --no-checkout URL DIR` through simple-git, in an environment of its own (the
   * location variables of the caller would point it elsewhere). META_REMOTE_UNAVAILABLE when
   * git cannot.
   */
  static async clone(url: string, dir: string): Promise<void> {
    const g = await porcelain(dirname(resolve(dir)), isolatedEnv());
    try {
      await g.clone(url, resolve(dir), ["--no-checkout", "--quiet"]);
    } catch (e) {
      throw remoteFailed("clone", url, e);
    }
  }

  /**
   * `git fetch` through simple-git (its typed result: what moved), with `args` as given
   * (options, then the remote, then refspecs). META_REMOTE_UNAVAILABLE, or
   * META_UNKNOWN_REMOTE_REF when the remote has no such ref.
   */
  async fetch(args: string[], url = args.find((a) => !a.startsWith("-")) ?? "the remote"): Promise<FetchResult> {
    const g = await porcelain(this.dir, this.env ?? process.env);
    try {
      return await g.fetch(args);
    } catch (e) {
      throw remoteFailed("fetch", url, e);
    }
  }

  /**
   * `git push --porcelain REMOTE REFSPEC` through simple-git: never forced, never a throw for
   * a push git refused. A lost race (the remote moved: non-fast-forward; or another push held
   * its ref lock) is told apart from any other failure, from git's own words, which simple-git's
   * error carries (stdout and stderr).
   */
  async push(remote: string, refspec: string): Promise<PushOutcome> {
    const g = await porcelain(this.dir, this.env ?? process.env);
    try {
      return { pushed: true, result: await g.push(remote, refspec) };
    } catch (e) {
      const output = e instanceof Error ? e.message : String(e);
      return {
        pushed: false,
        lostRace: /\[rejected\]|non-fast-forward|fetch first|stale info|cannot lock ref|failed to update ref|failed to lock|incorrect old value/i.test(output),
        lockFile: /Unable to create '([^']+\.lock)': File exists/.exec(output)?.[1],
        why: output.split("\n").find((l) => /^(fatal|error): /.test(l)) ?? output.trim().split("\n").pop() ?? "",
      };
    }
  }

  async run(args: string[], opts: { input?: string | Uint8Array; env?: NodeJS.ProcessEnv; reject?: boolean } = {}): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const r = await execa("git", args, { cwd: this.dir, input: opts.input, env: opts.env && this.env ? withLocationOf(opts.env, this.env) : (opts.env ?? this.env), reject: false, stripFinalNewline: true });
    if (r.exitCode !== 0 && opts.reject !== false) {
      throw new BootMetaError("META_GIT_FAILED", `git ${args[0]} failed in ${this.dir}: ${r.stderr.trim().split("\n").pop() ?? ""}`, ExitCode.General, {
        data: { args, exitCode: r.exitCode },
      });
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1 };
  }

  /** Runs git for output that holds names (`-z` forms): stdout as bytes, META_GIT_FAILED on a non-zero exit. */
  runBytes(args: string[]): Promise<Buffer> {
    return new Promise((res, rej) => {
      const p = spawn("git", args, { cwd: this.dir, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
      const chunks: Buffer[] = [];
      let err = "";
      p.stdout.on("data", (c: Buffer) => chunks.push(c));
      p.stderr.on("data", (c: Buffer) => (err += c.toString()));
      p.on("error", rej);
      p.on("close", (code) =>
        code === 0
          ? res(Buffer.concat(chunks))
          : rej(new BootMetaError("META_GIT_FAILED", `git ${args[0]} failed in ${this.dir}: ${err.trim().split("\n").pop() ?? ""}`, ExitCode.General, { data: { args, exitCode: code } })),
      );
    });
  }

  /** The commit HEAD points at; undefined on an unborn branch. */
  async head(): Promise<string | undefined> {
    const fast = await this.headFromFiles();
    if (fast) return fast;
    const r = await this.run(["rev-parse", "--verify", "-q", "HEAD"], { reject: false });
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  }

  /**
   * HEAD read from .git itself (HEAD → a loose ref or packed-refs), saving a git process on
   * every config load; undefined when anything is unusual, and git answers instead.
   */
  private async headFromFiles(): Promise<string | undefined> {
    try {
      // HEAD is the work tree's own; refs and packed-refs are shared by every worktree. Read
      // synchronously: a few bytes each, on every config load (see ObjectFiles).
      const head = readFileSync(join(this.gitDir, "HEAD"), "utf8").trim();
      if (/^[0-9a-f]{40}$/.test(head)) return head;
      const m = /^ref: (refs\/[^\s]+)$/.exec(head);
      if (!m) return undefined;
      if (!(m[1] as string).startsWith("refs/heads/")) return undefined;
      const ref = join(this.commonDir, m[1] as string);
      if (existsSync(ref)) {
        const loose = readFileSync(ref, "utf8").trim();
        return /^[0-9a-f]{40}$/.test(loose) ? loose : undefined;
      }
      const packedRefs = join(this.commonDir, "packed-refs");
      const packed = existsSync(packedRefs) ? readFileSync(packedRefs, "utf8") : "";
      for (const line of packed.split("\n")) {
        const [hash, name] = line.split(" ");
        if (name === m[1] && /^[0-9a-f]{40}$/.test(hash ?? "")) return hash;
      }
      return undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A `git cat-file --batch` kept open for many reads (a write's planning phase); close() when
   * done. `read` answers blobs only; `object` any object with its type. The protocol is one
   * line per request, and git echoes a missing name back on a line of its own: a name with a
   * line break would answer for another path, so it is refused (ask by object id instead:
   * reader.ts walks trees by id, and so reads any name). An object over the file-size limit
   * (src/limits.ts) is refused from its header, INPUT_TOO_LARGE naming its path, and its body
   * is skipped as it streams past, never held in memory.
   */
  catFile(): CatFile {
    const p = spawn("git", ["cat-file", "--batch"], { cwd: this.dir, env: this.env, stdio: ["pipe", "pipe", "ignore"] });
    let buf = Buffer.alloc(0);
    // Chunks not yet joined to buf: joined once enough are here for the object in hand, so a
    // large body costs one copy, not one per chunk.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let need = 0;
    let skip = 0;
    const waiting: { spec: string; resolve: (v: { type: string; body: Uint8Array } | undefined) => void; reject: (e: unknown) => void }[] = [];
    const pump = () => {
      while (waiting.length) {
        const nl = buf.indexOf(10);
        if (nl < 0) return;
        const header = buf.subarray(0, nl).toString("utf8");
        if (header.endsWith(" missing") || header.endsWith(" ambiguous")) {
          buf = buf.subarray(nl + 1);
          waiting.shift()?.resolve(undefined);
          continue;
        }
        const [, type, sizeText] = header.split(" ");
        const size = Number(sizeText);
        if (size > limits().maxFileBytes) {
          const w = waiting.shift();
          const have = Math.min(buf.length - nl - 1, size + 1);
          skip = size + 1 - have;
          buf = buf.subarray(nl + 1 + have);
          w?.reject(limitExceeded("maxFileBytes", w.spec.replace(/^[^:]*:/, ""), `is ${formatBytes(size)} in git`));
          continue;
        }
        if (buf.length < nl + 1 + size + 1) {
          need = nl + 1 + size + 1;
          return;
        }
        const body = new Uint8Array(buf.subarray(nl + 1, nl + 1 + size));
        buf = buf.subarray(nl + 1 + size + 1);
        waiting.shift()?.resolve({ type: type as string, body });
      }
    };
    p.stdout.on("data", (c: Buffer) => {
      if (skip > 0) {
        const n = Math.min(skip, c.length);
        skip -= n;
        c = c.subarray(n);
      }
      pending.push(c);
      pendingBytes += c.length;
      if (buf.length + pendingBytes < need) return;
      buf = Buffer.concat([buf, ...pending]);
      pending = [];
      pendingBytes = 0;
      need = 0;
      pump();
    });
    p.on("close", () => {
      for (const w of waiting.splice(0)) w.reject(new BootMetaError("META_GIT_FAILED", "git cat-file stopped unexpectedly", ExitCode.General));
    });
    p.on("error", () => undefined);
    const object = (spec: string) =>
      new Promise<{ type: string; body: Uint8Array } | undefined>((res, rej) => {
        const unsafe = unsafeSpec(spec);
        if (unsafe) return rej(unsafe);
        if (p.exitCode !== null || p.stdin.destroyed) return rej(new BootMetaError("META_GIT_FAILED", "git cat-file stopped unexpectedly", ExitCode.General));
        waiting.push({ spec, resolve: res, reject: rej });
        p.stdin.write(`${spec}\n`);
      });
    return {
      object,
      read: async (spec) => {
        const o = await object(spec);
        return o?.type === "blob" ? o.body : undefined;
      },
      close: () => p.stdin.end(),
    };
  }

  async branch(): Promise<string> {
    const head = await fsp.readFile(join(this.gitDir, "HEAD"), "utf8").catch(() => "");
    const m = /^ref: refs\/heads\/(\S+)\s*$/.exec(head);
    if (m) return m[1] as string;
    const r = await this.run(["symbolic-ref", "--short", "-q", "HEAD"], { reject: false });
    if (r.exitCode !== 0) throw new BootMetaError("META_DETACHED_HEAD", `${this.dir} is not on a branch (detached HEAD); check out a branch first`, ExitCode.General);
    return r.stdout.trim();
  }

  /** A revision's full commit hash; META_UNKNOWN_REVISION when there is none. */
  async resolve(rev: string): Promise<string> {
    if (rev === "HEAD") {
      const fast = await this.headFromFiles();
      if (fast) return fast;
    }
    const r = await this.run(["rev-parse", "--verify", "-q", "--end-of-options", `${rev}^{commit}`], { reject: false });
    if (r.exitCode !== 0) throw new BootMetaError("META_UNKNOWN_REVISION", `${JSON.stringify(rev)} is not a commit in ${this.dir}`, ExitCode.General, { data: { rev } });
    return r.stdout.trim();
  }

  /**
   * Reads files at a commit in one `git cat-file --batch`; a missing path maps to undefined.
   * For paths boot-meta builds from checked names (the loader's layers); a path with a line
   * break is refused (META_INVALID_PATH).
   */
  async readFiles(paths: string[], at: string): Promise<Map<string, Uint8Array | undefined>> {
    const fast = await this.readFilesFromObjects(paths, at).catch(() => undefined);
    if (fast) return fast;
    const bodies = await this.readBlobs(paths.map((p) => `${at}:${p}`));
    return new Map(paths.map((p, i) => [p, bodies[i]]));
  }

  /**
   * {@link readFiles} without starting git, from the object files themselves (object-files.ts),
   * when `at` is a commit id and the paths are plain (`a/b/c`, no `.`, `..` or empty part);
   * undefined whenever git should answer instead: a location variable or GIT_REPLACE_REF_BASE
   * in force, an object not found or over the size limit (git then names the limit).
   */
  private async readFilesFromObjects(paths: string[], at: string): Promise<Map<string, Uint8Array | undefined> | undefined> {
    const env = this.env ?? process.env;
    if (LOCATION_VARS.some((k) => env[k]) || env.GIT_REPLACE_REF_BASE) return undefined;
    const format = /^[0-9a-f]{40}$/.test(at) ? "sha1" : /^[0-9a-f]{64}$/.test(at) ? "sha256" : undefined;
    if (!format || paths.some((p) => p.split("/").some((part) => part === "" || part === "." || part === ".."))) return undefined;
    const store = ObjectFiles.open(this.objectsDir, this.commonDir, format);
    if (!store) return undefined;
    try {
      const max = limits().maxFileBytes;
      const commit = store.read(at, max);
      const root = commit?.type === "commit" ? /^tree ([0-9a-f]+)\n/.exec(commit.body.toString("latin1"))?.[1] : undefined;
      if (!root) return undefined;
      const trees = new Map<string, Buffer>();
      const out = new Map<string, Uint8Array | undefined>();
      for (const path of paths) {
        let id: string | undefined = root;
        let mode = "40000";
        for (const part of path.split("/")) {
          if (mode !== "40000") {
            id = undefined; // a file where a folder was named: git finds no such path
            break;
          }
          let tree = trees.get(id as string);
          if (!tree) {
            const o = store.read(id as string, max);
            if (o?.type !== "tree") return undefined;
            tree = o.body;
            trees.set(id as string, tree);
          }
          const e = treeEntry(tree, Buffer.from(part, "utf8"), format === "sha1" ? 20 : 32);
          if (e === null) return undefined;
          if (!e) {
            id = undefined;
            break;
          }
          ({ id, mode } = e);
        }
        // A gitlink (160000) names a commit of another repository, a folder is no file: cat-file's
        // reader answers neither as a file.
        if (id === undefined || mode === "40000" || mode === "160000") {
          out.set(path, undefined);
          continue;
        }
        const blob = store.read(id, max);
        if (blob?.type !== "blob") return undefined;
        out.set(path, new Uint8Array(blob.body.buffer, blob.body.byteOffset, blob.body.byteLength));
      }
      return out;
    } finally {
      store.close();
    }
  }

  /**
   * Blobs named by `REV:PATH` specs (any mix of commits), in one `git cat-file --batch`
   * (the {@link catFile} reader, so the size limit holds here too).
   */
  async readBlobs(specs: string[]): Promise<(Uint8Array | undefined)[]> {
    if (specs.length === 0) return [];
    for (const s of specs) {
      const unsafe = unsafeSpec(s);
      if (unsafe) throw unsafe;
    }
    const cat = this.catFile();
    try {
      return await Promise.all(specs.map((s) => cat.read(s)));
    } finally {
      cat.close();
    }
  }

  async readFile(path: string, at = "HEAD"): Promise<Uint8Array | undefined> {
    return (await this.readFiles([path], at)).get(path);
  }

  async log(opts: { path?: string; limit?: number } = {}): Promise<{ hash: string; author: string; email: string; date: string; subject: string }[]> {
    // A path is a literal name, never a pattern; a record whose hash is not one is the tail of
    // a subject that held the separator, and is dropped.
    const r = await this.run(["--literal-pathspecs", "log", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e", ...(opts.limit ? [`-n${opts.limit}`] : []), "--", ...(opts.path ? [opts.path] : [])], { reject: false });
    if (r.exitCode !== 0) return [];
    return r.stdout
      .split("\x1e")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => {
        const [hash = "", author = "", email = "", date = "", subject = ""] = s.split("\x1f");
        return { hash, author, email, date, subject };
      })
      .filter((e) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(e.hash));
  }

  /** Config and identity in one git process (see {@link RepoSettings}). */
  async settings(): Promise<RepoSettings> {
    return parseSettings((await this.run(["var", "-l"], { reject: false })).stdout);
  }
}

/** What {@link Git.push} did: simple-git's typed result, or why git refused. */
/** The entry of a raw tree object (`MODE NAME\0<binary id>`…) whose name is these bytes; null for a tree that does not parse. */
function treeEntry(tree: Buffer, name: Buffer, idLen: number): { mode: string; id: string } | undefined | null {
  let off = 0;
  while (off < tree.length) {
    const sp = tree.indexOf(0x20, off);
    const nul = sp < 0 ? -1 : tree.indexOf(0, sp + 1);
    if (nul < 0 || nul + 1 + idLen > tree.length) return null;
    if (tree.compare(name, 0, name.length, sp + 1, nul) === 0) return { mode: tree.toString("latin1", off, sp), id: tree.toString("hex", nul + 1, nul + 1 + idLen) };
    off = nul + 1 + idLen;
  }
  return undefined;
}

export type PushOutcome =
  | { pushed: true; result: PushResult }
  | {
      pushed: false;
      /** Someone else's push won (the remote moved, or held its ref lock): fetch, rebuild, try again. */
      lostRace: boolean;
      /** The remote's ref lock file that was in the way, when that was the reason. */
      lockFile: string | undefined;
      /** git's own line saying why (its first fatal:/error: line). */
      why: string;
    };

export interface CatFile {
  read(spec: string): Promise<Uint8Array | undefined>;
  object(spec: string): Promise<{ type: string; body: Uint8Array } | undefined>;
  close(): void;
}

/**
 * What a write needs to know about a repository, from one `git var -l`: its config (all
 * levels), and who the author and committer are.
 */
export interface RepoSettings {
  config: Map<string, string>;
  /** "Name <email>", or undefined when git cannot tell (no user.name/user.email). */
  author: string | undefined;
  committer: string | undefined;
  /** Full idents with their dates, when GIT_AUTHOR_DATE / GIT_COMMITTER_DATE fix them. */
  authorDated: string | undefined;
  committerDated: string | undefined;
}

function parseSettings(text: string): RepoSettings {
  const config = new Map<string, string>();
  let author: string | undefined;
  let committer: string | undefined;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const eq = line.indexOf("=");
    // A key with no "=" is a boolean set to true.
    const k = eq < 0 ? line : line.slice(0, eq);
    const v = eq < 0 ? "true" : line.slice(eq + 1);
    if (k === "GIT_AUTHOR_IDENT") author = v;
    else if (k === "GIT_COMMITTER_IDENT") committer = v;
    // git prints section and key lower-cased, a subsection as written; the last value wins.
    else if (!/^GIT_/.test(k)) config.set(k, v);
  }
  const strip = (ident: string | undefined) => {
    const who = ident?.replace(/\s+\d+\s+[+-]\d{4}$/, "").trim();
    // `git var -l` prints what git guessed; `git commit` refuses a guessed address that ends
    // in "(none)" or an empty name, and so do we.
    return who && !/^\s*</.test(who) && !/\(none\)>$/.test(who) ? who : undefined;
  };
  return {
    config,
    author: strip(author),
    committer: strip(committer),
    authorDated: process.env.GIT_AUTHOR_DATE ? author : undefined,
    committerDated: process.env.GIT_COMMITTER_DATE ? committer : undefined,
  };
}

/** git's boolean config values. */
export function configBool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const l = v.toLowerCase();
  if (["true", "yes", "on", "1"].includes(l)) return true;
  if (["false", "no", "off", "0", ""].includes(l)) return false;
  return undefined;
}

/**
 * A `REV:PATH` spec that `cat-file --batch` would misread: it reads a line (dropping a final
 * CR), and echoes a missing spec back on its own line, so a line break in a name answers
 * with another path's content. Undefined when the spec is safe.
 */
function unsafeSpec(spec: string): BootMetaError | undefined {
  if (!/[\n\r\0]/.test(spec)) return undefined;
  const path = spec.slice(spec.indexOf(":") + 1);
  return new BootMetaError("META_INVALID_PATH", `${showPath(path)} cannot be read by name from the meta repository: it holds a line break or NUL`, ExitCode.InvalidArgument, {
    data: { path },
    suggestions: ["rename the file in the meta repo (`git mv`) to a name without control characters"],
  });
}

async function locate(abs: string, env: NodeJS.ProcessEnv): Promise<Dirs> {
  const r = await execa("git", ["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-dir", "--git-common-dir", "--git-path", "objects"], { cwd: abs, env, reject: false }).catch(() => undefined);
  const [dir, gitDir, commonDir, objectsDir] = r?.exitCode === 0 ? r.stdout.split("\n") : [];
  if (!dir || !gitDir || !commonDir || !objectsDir) {
    throw new BootMetaError("META_NOT_A_REPO", `${abs} is not inside a git work tree`, ExitCode.General, {
      data: { dir: abs },
      suggestions: ["create a meta repository with `boot-meta init DIR`, or pass --meta / set BOOT_META_REPO"],
    });
  }
  return { dir, gitDir, commonDir, objectsDir };
}

/** Location variables that are paths, resolved from where this process runs: git runs elsewhere (the top of the work tree). */
function absoluteLocation(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const paths = ["GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"].filter((k) => env[k]);
  return paths.length === 0 ? env : { ...env, ...Object.fromEntries(paths.map((k) => [k, resolve(env[k] as string)])) };
}

/** `env` with the location variables of `from` (and none other): this repository's, whatever the caller's are. */
function withLocationOf(env: NodeJS.ProcessEnv, from: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = isolatedEnv(env);
  for (const k of LOCATION_VARS) if (from[k] !== undefined) out[k] = from[k];
  return out;
}

function envFor(d: Dirs, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  if (!LOCATION_VARS.some((k) => base[k])) return undefined;
  return { ...base, GIT_DIR: d.gitDir, GIT_WORK_TREE: d.dir };
}

/** simple-git, loaded on first use (clone, fetch and push; reads never need it). */
let simpleGitModule: typeof import("simple-git") | undefined;

/**
 * simple-git guards against untrusted input: by default it strips or refuses environment
 * variables that make git run programs (GIT_SSH_COMMAND, GIT_ASKPASS, EDITOR, …). Here the
 * environment is the user's own — the one every git they run gets, and what a CI job's deploy
 * key needs — so it is passed through as it is. The arguments stay guarded: boot-meta passes
 * only its own options and refspecs, and a URL that isUrl() limited to plain transports.
 */
const TRUSTED_ENV = {
  allowUnsafeEditor: true,
  allowUnsafeAskPass: true,
  allowUnsafeConfigPaths: true,
  allowUnsafeConfigEnvCount: true,
  allowUnsafeExec: true,
  allowUnsafeDiffExternal: true,
  allowUnsafePager: true,
  allowUnsafeGitProxy: true,
  allowUnsafeTemplateDir: true,
  allowUnsafeSshCommand: true,
};

async function porcelain(baseDir: string, env: NodeJS.ProcessEnv): Promise<SimpleGit> {
  simpleGitModule ??= await import("simple-git");
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  // Done when git's output closes: simple-git's default also waits 50 ms after the process
  // exits when it printed nothing (a --quiet fetch), a pause every sync of the service paid.
  return simpleGitModule.simpleGit({ baseDir, allowEnvironment: Object.keys(vars), unsafe: TRUSTED_ENV, completion: { onClose: true, onExit: false } }).env(vars);
}

function remoteFailed(verb: string, url: string, e: unknown): BootMetaError {
  const why = (e instanceof Error ? e.message : String(e)).trim().split("\n").filter(Boolean).pop() ?? "";
  if (/couldn't find remote ref|no such ref/i.test(why)) {
    return new BootMetaError("META_UNKNOWN_REMOTE_REF", `cannot ${verb} ${url}: ${why}`, ExitCode.General, { data: { url }, suggestions: ["check the ref (BOOT_META_REF, the ref option): a branch or tag the remote has"] });
  }
  return new BootMetaError("META_REMOTE_UNAVAILABLE", `cannot ${verb} the meta repository ${url}: ${why}`, ExitCode.General, { data: { url }, suggestions: ["check the URL and your access to it"], cause: e });
}

export type { FetchResult };
