import { spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BootMetaError, ExitCode } from "../errors.js";
import { formatBytes, limitExceeded, limits } from "../limits.js";

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
 * The one place boot-meta runs git: the real `git` binary, so any remote and any git
 * config the user has works. Reads at a commit go through `git cat-file --batch` (one
 * process for any number of files), never through a checkout.
 */
export class Git {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens the repository containing `dir` (any subdirectory works). */
  static async open(dir: string): Promise<Git> {
    const r = await execa("git", ["rev-parse", "--show-toplevel"], { cwd: resolve(dir), reject: false }).catch(() => undefined);
    if (!r || r.exitCode !== 0) {
      throw new BootMetaError("META_NOT_A_REPO", `${resolve(dir)} is not inside a git repository`, ExitCode.General, {
        data: { dir: resolve(dir) },
        suggestions: ["create a meta repository with `boot-meta init DIR`, or pass --meta / set BOOT_META_REPO"],
      });
    }
    return new Git(r.stdout.trim());
  }

  /**
   * Opens a work tree whose top level is known (`dir/.git` is a directory) without running
   * git: the config loader's hot path. Falls back to {@link Git.open} otherwise.
   */
  static async at(dir: string): Promise<Git> {
    const d = resolve(dir);
    const st = await stat(join(d, ".git")).catch(() => undefined);
    return st?.isDirectory() ? new Git(d) : Git.open(d);
  }

  static async init(dir: string, opts: { branch?: string } = {}): Promise<Git> {
    await execa("git", ["init", "-q", "-b", opts.branch ?? "main", resolve(dir)]);
    return Git.open(dir);
  }

  async run(args: string[], opts: { input?: string | Uint8Array; env?: NodeJS.ProcessEnv; reject?: boolean } = {}): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const r = await execa("git", args, { cwd: this.dir, input: opts.input, env: opts.env, reject: false, stripFinalNewline: true });
    if (r.exitCode !== 0 && opts.reject !== false) {
      throw new BootMetaError("META_GIT_FAILED", `git ${args[0]} failed in ${this.dir}: ${r.stderr.trim().split("\n").pop() ?? ""}`, ExitCode.General, {
        data: { args, exitCode: r.exitCode },
      });
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1 };
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
      const gitDir = join(this.dir, ".git");
      const head = (await readFile(join(gitDir, "HEAD"), "utf8")).trim();
      if (/^[0-9a-f]{40}$/.test(head)) return head;
      const m = /^ref: (refs\/[^\s]+)$/.exec(head);
      if (!m) return undefined;
      const loose = await readFile(join(gitDir, m[1] as string), "utf8").catch(() => undefined);
      if (loose !== undefined) return /^[0-9a-f]{40}$/.test(loose.trim()) ? loose.trim() : undefined;
      const packed = await readFile(join(gitDir, "packed-refs"), "utf8").catch(() => "");
      for (const line of packed.split("\n")) {
        const [hash, ref] = line.split(" ");
        if (ref === m[1] && /^[0-9a-f]{40}$/.test(hash ?? "")) return hash;
      }
      return undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A `git cat-file --batch` kept open for many reads (a write's planning phase); close() when
   * done. `read` answers blobs only; `object` any object with its type. An object over the
   * file-size limit (src/limits.ts) is refused from its header, INPUT_TOO_LARGE naming its
   * path, and its body is skipped as it streams past, never held in memory.
   */
  catFile(): CatFile {
    const p = spawn("git", ["cat-file", "--batch"], { cwd: this.dir, stdio: ["pipe", "pipe", "ignore"] });
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
    const head = await readFile(join(this.dir, ".git", "HEAD"), "utf8").catch(() => "");
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
    const r = await this.run(["rev-parse", "--verify", "-q", `${rev}^{commit}`], { reject: false });
    if (r.exitCode !== 0) throw new BootMetaError("META_UNKNOWN_REVISION", `${JSON.stringify(rev)} is not a commit in ${this.dir}`, ExitCode.General, { data: { rev } });
    return r.stdout.trim();
  }

  /** Reads files at a commit in one `git cat-file --batch`; a missing path maps to undefined. */
  async readFiles(paths: string[], at: string): Promise<Map<string, Uint8Array | undefined>> {
    const bodies = await this.readBlobs(paths.map((p) => `${at}:${p}`));
    return new Map(paths.map((p, i) => [p, bodies[i]]));
  }

  /**
   * Blobs named by `REV:PATH` specs (any mix of commits), in one `git cat-file --batch`
   * (the {@link catFile} reader, so the size limit holds here too).
   */
  async readBlobs(specs: string[]): Promise<(Uint8Array | undefined)[]> {
    if (specs.length === 0) return [];
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
    const r = await this.run(["log", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e", ...(opts.limit ? [`-n${opts.limit}`] : []), "--", ...(opts.path ? [opts.path] : [])], { reject: false });
    if (r.exitCode !== 0) return [];
    return r.stdout
      .split("\x1e")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => {
        const [hash = "", author = "", email = "", date = "", subject = ""] = s.split("\x1f");
        return { hash, author, email, date, subject };
      });
  }

  /** Config and identity in one git process (see {@link RepoSettings}). */
  async settings(): Promise<RepoSettings> {
    return parseSettings((await this.run(["var", "-l"], { reject: false })).stdout);
  }
}

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
