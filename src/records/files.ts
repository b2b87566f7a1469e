import { createHash } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";
import { projectFile, SEALED_SUFFIX, validateName } from "../meta/layout.js";
import { showPath } from "../meta/names.js";
import type { Reader } from "../meta/reader.js";
import { commitChanges, type CommitResult, type Tx } from "../meta/commit.js";
import { decodeRecord, encodeRecord, type RecordKind, type Stored } from "./codec.js";

/** A release id: its creation time (UTC, to the second), then the version. */
export const RELEASE_ID = /^((\d{4})(\d{2})\d{2}T\d{6}Z)-([A-Za-z0-9._-]+)$/;

/**
 * Where each record kind lives in the layout. Directories that grow without bound are
 * sharded so that no tree holds more than a few thousand entries: git finds a path by
 * scanning each tree on the way, so a lookup in one directory of 100,000 files costs
 * ~100 ms and in a sharded one well under one. Releases go by the month of their id
 * (`releases/2026/11/…`: `release list` reads the newest months only), binaries by the
 * first two hex digits of their digest (256 directories), instances by the first two hex
 * digits of sha256(id) (DESIGN.md "New paths"; ids like web-1…web-9999 would pile up in a few
 * shards if cut by their own first characters).
 */
export const recordPath = {
  release: (project: string, id: string) => {
    const m = RELEASE_ID.exec(id);
    if (!m) throw new BootMetaError("INVALID_ARGUMENT", `${JSON.stringify(id)} is not a release id (like 20261125T101500Z-1.4.0)`, ExitCode.InvalidArgument);
    return `${releasesDir(project)}/${m[2]}/${m[3]}/${id}.json`;
  },
  channel: (project: string, name: string) => `${channelsDir(project)}/${name}.json`,
  /** A project's import pins for one of its channels (records/imports.ts). */
  imports: (project: string, channel: string) => `${project}/imports/${channel}.json`,
  binary: (project: string, sha256: string) => `${project}/binaries/${sha256.slice(0, 2)}/${sha256}.json`,
  /** A binary record with secret storage details (a SOPS file; see layout.ts SEALED_SUFFIX). */
  sealedBinary: (project: string, sha256: string) => `${project}/binaries/${sha256.slice(0, 2)}/${sha256}${SEALED_SUFFIX}`,
  binaryIndex: (sha256: string) => `binaries/${sha256.slice(0, 2)}/${sha256}.json`,
  instance: (project: string, id: string) => `${instancesDir(project)}/${instanceShard(id)}/${id}.json`,
};

export const channelsDir = (project: string) => `${project}/channels`;
export const instancesDir = (project: string) => `${project}/instances`;
export const instanceShard = (id: string) => createHash("sha256").update(id).digest("hex").slice(0, 2);

export const releasesDir = (project: string) => `${project}/releases`;

export interface WriteOpts {
  author?: string;
  push?: boolean;
}

export type { CommitReader, Reader } from "../meta/reader.js";
export { withReader } from "../meta/reader.js";

/** File names directly in `dir`. */
export async function namesIn(r: Reader, dir: string): Promise<string[]> {
  return (await r.children(dir)).filter((c) => !c.dir).map((c) => c.name);
}

/** Subdirectory names directly in `dir`. */
export async function dirsIn(r: Reader, dir: string): Promise<string[]> {
  return (await r.children(dir)).filter((c) => c.dir).map((c) => c.name);
}

/**
 * Several files of one reader at once (asked for together, so one `cat-file` pipelines them);
 * a missing one maps to undefined. Works on any Reader: a commit's, a write's, the server's.
 */
export async function readFiles(r: Reader, paths: readonly string[]): Promise<Map<string, Uint8Array | undefined>> {
  const bodies = await Promise.all(paths.map((p) => r.read(p)));
  return new Map(paths.map((p, i) => [p, bodies[i]]));
}

/** Reads and validates a record (see {@link decodeAt}); undefined when there is no such file. */
export async function readRecord<T>(r: Reader, kind: RecordKind, path: string, at: Record<string, string> = {}): Promise<Stored<T> | undefined> {
  const bytes = await r.read(path);
  return bytes ? decodeAt<T>(kind, bytes, path, at) : undefined;
}

/**
 * Decodes and validates a record read from `path`. `at` names the fields its path implies (a
 * release's id, a binary's digest, a channel's name): a file whose content says otherwise was
 * moved or tampered with, and is refused rather than answered for.
 */
export function decodeAt<T>(kind: RecordKind, bytes: Uint8Array, path: string, at: Record<string, string>): Stored<T> {
  const rec = decodeRecord<T>(kind, bytes, path);
  for (const [field, want] of Object.entries(at)) {
    const got = (rec.value as Record<string, unknown>)[field];
    if (got !== want) {
      throw new BootMetaError("RECORD_INVALID", `${showPath(path)} is not a valid ${kind} record: its ${field} is ${JSON.stringify(got)}, but its path says ${JSON.stringify(want)} (moved or edited by hand?)`, ExitCode.InvalidFormat, {
        data: { kind, where: path, field },
        suggestions: ["restore it from git history (`git log -p -- PATH`)"],
      });
    }
  }
  return rec;
}

export function writeRecord<T>(tx: Tx, kind: RecordKind, path: string, value: T, unknown?: Record<string, unknown>): void {
  tx.write(path, encodeRecord(kind, value, unknown, path));
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

/** An RFC 3339 time in UTC, to the second, as records write times. */
export const utcIso = (t: Date | string | number): string => new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
export const nowIso = (): string => utcIso(Date.now());
