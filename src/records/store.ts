import { BootMetaError, ExitCode } from "../errors.js";
import { Git } from "../meta/git.js";
import { projectFile, validateName } from "../meta/layout.js";
import { commitChanges, type CommitResult, type Tx } from "../meta/store.js";
import { decodeRecord, encodeRecord, type RecordKind, type Stored } from "./codec.js";

/** Where each record kind lives in the layout (DESIGN.md). */
export const recordPath = {
  release: (project: string, id: string) => `${project}/releases/${id}.json`,
  channel: (project: string, name: string) => `${project}/channels/${name}.json`,
  binary: (project: string, sha256: string) => `${project}/binaries/${sha256}.json`,
  binaryIndex: (sha256: string) => `binaries/${sha256}.json`,
  instance: (project: string, id: string) => `${project}/instances/${id}.json`,
};

export interface WriteOpts {
  author?: string;
  push?: boolean;
}

/** Reads records inside a write (from the attempt's base) or at a commit. */
export interface Reader {
  read(path: string): Promise<Uint8Array | undefined>;
  list(dir: string): Promise<string[]>;
}

/** File names directly in `dir` (whatever form the reader lists them in). */
export async function namesIn(r: Reader, dir: string): Promise<string[]> {
  const prefix = `${dir.replace(/\/$/, "")}/`;
  return (await r.list(dir)).map((p) => (p.startsWith(prefix) ? p.slice(prefix.length) : p)).filter((n) => n !== "" && !n.includes("/"));
}

export async function readRecord<T>(r: Reader, kind: RecordKind, path: string): Promise<Stored<T> | undefined> {
  const bytes = await r.read(path);
  return bytes ? decodeRecord<T>(kind, bytes, path) : undefined;
}

export function writeRecord<T>(tx: Tx, kind: RecordKind, path: string, value: T, unknown?: Record<string, unknown>): void {
  tx.write(path, encodeRecord(kind, value, unknown, path));
}

/** A reader of the committed state at HEAD (or a given commit). */
export async function readerAt(repoDir: string, at = "HEAD"): Promise<Reader & { commit: string; git: Git }> {
  const git = await Git.at(repoDir);
  const commit = await git.resolve(at);
  return {
    commit,
    git,
    read: (p) => git.readFile(p, commit),
    list: async (dir) => names(await git.run(["ls-tree", "--name-only", "-z", commit, `${dir.replace(/\/$/, "")}/`], { reject: false }).then((r) => r.stdout.split("\0").filter(Boolean)), dir),
  };
}

function names(paths: string[], dir: string): string[] {
  const prefix = `${dir.replace(/\/$/, "")}/`;
  return paths.map((p) => (p.startsWith(prefix) ? p.slice(prefix.length) : p));
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
