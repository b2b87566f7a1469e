import { basename } from "node:path";
import { execa } from "execa";
import { BootMetaError, ExitCode } from "../errors.js";
import { commitRecords, namesIn, nowIso, type Reader, readerAt, readRecord, recordExists, recordNotFound, recordPath, requireProject, whoAmI, type WriteOpts, writeRecord } from "./store.js";
import type { Release, RepoRef } from "./types.js";

/** `NAME=URL@HASH` as `release create --commit` takes it. */
export function parseCommitSpec(spec: string): RepoRef {
  const m = /^([A-Za-z0-9._-]+)=(.*)@([0-9a-fA-F]{7,64})$/.exec(spec);
  if (!m) {
    throw new BootMetaError("INVALID_ARGUMENT", `--commit ${JSON.stringify(spec)} must look like NAME=URL@HASH (e.g. app=https://github.com/org/app@3f2c1a9…)`, ExitCode.InvalidArgument);
  }
  return { name: m[1] as string, url: m[2] || undefined, commit: (m[3] as string).toLowerCase() };
}

/** The current commit of a local git repo, with its remote, branch or tag, and whether it is dirty. */
export async function repoRefOf(path: string, o: { allowDirty?: boolean } = {}): Promise<RepoRef> {
  const git = (args: string[]) => execa("git", args, { cwd: path, reject: false });
  const top = await git(["rev-parse", "--show-toplevel"]);
  if (top.exitCode !== 0) throw new BootMetaError("META_NOT_A_REPO", `${path} is not a git repository`, ExitCode.General, { data: { path } });
  const commit = await git(["rev-parse", "HEAD"]);
  if (commit.exitCode !== 0) throw new BootMetaError("RELEASE_NO_COMMIT", `${path} has no commit yet`, ExitCode.General);
  const url = (await git(["remote", "get-url", "origin"])).stdout.trim();
  const tag = await git(["describe", "--tags", "--exact-match", "HEAD"]);
  const branch = await git(["symbolic-ref", "--short", "-q", "HEAD"]);
  const status = (await git(["status", "--porcelain"])).stdout.split("\n").filter(Boolean);
  if (status.length && !o.allowDirty) {
    throw new BootMetaError("RELEASE_DIRTY_REPO", `${top.stdout.trim()} has uncommitted changes (${status.slice(0, 5).map((l) => l.slice(3)).join(", ")}${status.length > 5 ? ", …" : ""}): a release must name commits that exist`, ExitCode.General, {
      data: { path, files: status.map((l) => l.slice(3)) },
      suggestions: ["commit or stash the changes, or pass --allow-dirty to record the release anyway (marked dirty)"],
    });
  }
  const name = url ? basename(url).replace(/\.git$/, "") : basename(top.stdout.trim());
  return { name, url: url || undefined, commit: commit.stdout.trim(), ref: tag.exitCode === 0 ? tag.stdout.trim() : branch.stdout.trim() || undefined, dirty: status.length > 0 || undefined };
}

/** Release ids sort by creation time, so `release list` is a directory listing, not a scan. */
export function releaseId(version: string, at: string): string {
  const stamp = at.replace(/[-:]/g, "").replace(/\.\d+/, "");
  const v = version.replace(/[^A-Za-z0-9._-]/g, "_");
  return `${stamp}-${v}`;
}

export async function createRelease(repoDir: string, project: string, o: WriteOpts & { version: string; repos: RepoRef[]; notes?: string; now?: string }) {
  if (!o.version) throw new BootMetaError("INVALID_ARGUMENT", "a release needs --version", ExitCode.InvalidArgument);
  if (o.repos.length === 0) throw new BootMetaError("INVALID_ARGUMENT", "a release needs at least one repo (--repo PATH or --commit NAME=URL@HASH)", ExitCode.InvalidArgument);
  const createdAt = o.now ?? nowIso();
  const id = releaseId(o.version, createdAt);
  const createdBy = await whoAmI(repoDir, o.author);
  return commitRecords(repoDir, o, `release: ${project} ${o.version} (${id})\n\n${o.repos.map((r) => `- ${r.name} ${r.commit}${r.dirty ? " (dirty)" : ""}`).join("\n")}\n`, async (tx) => {
    await requireProject(tx, project);
    const path = recordPath.release(project, id);
    if (await tx.read(path)) throw recordExists(`release ${id}`, path);
    const release: Release = { id, project, version: o.version, repos: o.repos, createdBy, createdAt, notes: o.notes };
    writeRecord(tx, "Release", path, release);
    return release;
  });
}

/** A release by id, or the newest with that version. */
export async function getRelease(r: Reader, project: string, idOrVersion: string): Promise<Release> {
  const direct = await readRecord<Release>(r, "Release", recordPath.release(project, idOrVersion));
  if (direct) return direct.value;
  const ids = (await namesIn(r, `${project}/releases`)).filter((n) => n.endsWith(`-${idOrVersion.replace(/[^A-Za-z0-9._-]/g, "_")}.json`)).sort();
  const last = ids.at(-1);
  if (last) {
    const rec = await readRecord<Release>(r, "Release", recordPath.release(project, last.replace(/\.json$/, "")));
    if (rec) return rec.value;
  }
  throw recordNotFound(`release ${idOrVersion} of ${project}`, `list them with \`boot-meta release list ${project}\``);
}

/** Newest first, paged. */
export async function listReleases(repoDir: string, project: string, o: { limit?: number; offset?: number; at?: string } = {}): Promise<{ commit: string; total: number; releases: Release[] }> {
  const r = await readerAt(repoDir, o.at);
  await requireProject(r, project);
  const ids = (await namesIn(r, `${project}/releases`)).filter((n) => n.endsWith(".json")).sort().reverse();
  const page = ids.slice(o.offset ?? 0, (o.offset ?? 0) + (o.limit ?? 20));
  const files = await r.git.readFiles(page.map((n) => `${project}/releases/${n}`), r.commit);
  const { decodeRecord } = await import("./codec.js");
  const releases = page.map((n) => decodeRecord<Release>("Release", files.get(`${project}/releases/${n}`) as Uint8Array, n).value);
  return { commit: r.commit, total: ids.length, releases };
}
