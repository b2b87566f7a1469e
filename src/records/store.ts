import { BootMetaError, ExitCode } from "../errors.js";
import { Git } from "../meta/git.js";
import { projectFile, validateName } from "../meta/layout.js";
import { parseTree } from "../meta/objects.js";
import { commitChanges, type CommitResult, type Tx } from "../meta/store.js";
import { decodeRecord, encodeRecord, type RecordKind, type Stored } from "./codec.js";

/** A release id: its creation time (UTC, to the second), then the version. */
export const RELEASE_ID = /^((\d{4})(\d{2})\d{2}T\d{6}Z)-([A-Za-z0-9._-]+)$/;

/**
 * Where each record kind lives in the layout. Directories that grow without bound are
 * sharded so that no tree holds more than a few thousand entries: git finds a path by
 * scanning each tree on the way, so a lookup in one directory of 100,000 files costs
 * ~100 ms and in a sharded one well under one. Releases go by the month of their id
 * (`releases/2026/11/…`: `release list` reads the newest months only), binaries by the
 * first two hex digits of their digest (256 directories).
 */
export const recordPath = {
  release: (project: string, id: string) => {
    const m = RELEASE_ID.exec(id);
    if (!m) throw new BootMetaError("INVALID_ARGUMENT", `${JSON.stringify(id)} is not a release id (like 20261125T101500Z-1.4.0)`, ExitCode.InvalidArgument);
    return `${releasesDir(project)}/${m[2]}/${m[3]}/${id}.json`;
  },
  channel: (project: string, name: string) => `${project}/channels/${name}.json`,
  binary: (project: string, sha256: string) => `${project}/binaries/${sha256.slice(0, 2)}/${sha256}.json`,
  binaryIndex: (sha256: string) => `binaries/${sha256.slice(0, 2)}/${sha256}.json`,
  instance: (project: string, id: string) => `${project}/instances/${id}.json`,
};

export const releasesDir = (project: string) => `${project}/releases`;

export interface WriteOpts {
  author?: string;
  push?: boolean;
}

/** Reads records inside a write (from the attempt's base) or at a commit. */
export interface Reader {
  read(path: string): Promise<Uint8Array | undefined>;
  /** What is directly in `dir`: names, and whether each is a directory (sorted by name). */
  children(dir: string): Promise<{ name: string; dir: boolean }[]>;
}

/** File names directly in `dir`. */
export async function namesIn(r: Reader, dir: string): Promise<string[]> {
  return (await r.children(dir)).filter((c) => !c.dir).map((c) => c.name);
}

/** Subdirectory names directly in `dir`. */
export async function dirsIn(r: Reader, dir: string): Promise<string[]> {
  return (await r.children(dir)).filter((c) => c.dir).map((c) => c.name);
}

export async function readRecord<T>(r: Reader, kind: RecordKind, path: string): Promise<Stored<T> | undefined> {
  const bytes = await r.read(path);
  return bytes ? decodeRecord<T>(kind, bytes, path) : undefined;
}

export function writeRecord<T>(tx: Tx, kind: RecordKind, path: string, value: T, unknown?: Record<string, unknown>): void {
  tx.write(path, encodeRecord(kind, value, unknown, path));
}

export interface CommitReader extends Reader {
  /** The commit read from. */
  readonly commit: string;
  readonly git: Git;
  /** Files at once (one round trip per file on the same reader; missing → undefined). */
  readMany(paths: string[]): Promise<Map<string, Uint8Array | undefined>>;
}

/**
 * Runs `fn` with a reader of the committed state at HEAD (or a given commit): one
 * `git cat-file --batch` for every read, closed when `fn` is done. Lookups read the few
 * tree and blob objects on their path, never the whole repository.
 */
export async function withReader<T>(repoDir: string, at: string | undefined, fn: (r: CommitReader) => Promise<T>): Promise<T> {
  const git = await Git.at(repoDir);
  const commit = await git.resolve(at ?? "HEAD");
  const format = commit.length === 64 ? "sha256" : "sha1";
  const cat = git.catFile();
  try {
    const read = (p: string) => cat.read(`${commit}:${p}`);
    return await fn({
      commit,
      git,
      read,
      async readMany(paths) {
        const bodies = await Promise.all(paths.map(read));
        return new Map(paths.map((p, i) => [p, bodies[i]]));
      },
      async children(dir) {
        const d = dir.replace(/\/$/, "");
        const o = await cat.object(d === "" ? `${commit}^{tree}` : `${commit}:${d}`);
        if (o?.type !== "tree") return [];
        return parseTree(o.body, format)
          .map((e) => ({ name: e.name, dir: e.mode === "40000" }))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      },
    });
  } finally {
    cat.close();
  }
}

export async function requireProject(r: Reader, project: string): Promise<void> {
  validateName("project", project);
  if (!(await r.read(projectFile(project)))) {
    throw new BootMetaError("META_NO_PROJECT", `there is no project ${project} in this meta repository`, ExitCode.General, { suggestions: [`create it with \`boot-meta project create ${project}\``] });
  }
}

export function recordExists(what: string, path: string): BootMetaError {
  return new BootMetaError("RECORD_EXISTS", `${what} already exists (${path}); records are immutable once written`, ExitCode.General, {
    data: { path },
    suggestions: ["use a new version or id; to correct a record, write a new one"],
  });
}

export function recordNotFound(what: string, hint?: string): BootMetaError {
  return new BootMetaError("RECORD_NOT_FOUND", `${what} does not exist`, ExitCode.General, { suggestions: hint ? [hint] : [] });
}

/** Commits a records change through the one store (push with rebase-retry). */
export function commitRecords<T>(repoDir: string, o: WriteOpts, message: string | ((v: T) => string), fn: (tx: Tx) => Promise<T>): Promise<CommitResult<T>> {
  return commitChanges(repoDir, { message, author: o.author, push: o.push }, fn);
}

/** The author a record names: --author, else git's author identity. */
export async function whoAmI(repoDir: string, author?: string): Promise<string> {
  if (author) return author;
  const git = await Git.at(repoDir);
  const r = await git.run(["var", "GIT_AUTHOR_IDENT"], { reject: false });
  return r.exitCode === 0 ? r.stdout.replace(/\s+\d+\s+[+-]\d{4}$/, "").trim() : "unknown";
}

export const nowIso = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
