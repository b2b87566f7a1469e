import { basename } from "node:path";
import type { CommitResult } from "../meta/commit.js";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { Git } from "../meta/git.js";
import { decodeName, showPath } from "../meta/names.js";
import { highestVersion } from "./goversion.js";
import { validateName } from "../meta/layout.js";
import { commitRecords, decodeAt, dirsIn, namesIn, nowIso, type Reader, RELEASE_ID, readRecord, releasesDir, recordExists, recordNotFound, recordPath, requireProject, utcIso, withReader, type WriteOpts, writeRecord } from "./files.js";
import type { Import, Release, RepoRef } from "./types.js";

/** `NAME=URL@HASH` as `release create --commit` takes it. */
export function parseCommitSpec(spec: string): RepoRef {
  const m = /^([A-Za-z0-9._-]+)=(.*)@([0-9a-fA-F]{7,64})$/.exec(spec);
  if (!m) {
    throw new BootMetaError("INVALID_ARGUMENT", `--commit ${JSON.stringify(spec)} must look like NAME=URL@HASH (e.g. app=https://github.com/org/app@3f2c1a9…)`, ExitCode.InvalidArgument);
  }
  return { name: m[1] as string, url: m[2] ? withoutCredentials(m[2]) : undefined, commit: (m[3] as string).toLowerCase() };
}

/**
 * A remote URL without the password or token some clones carry (`https://ci:TOKEN@host/…`):
 * releases and build info are committed and embedded in binaries, and must not leak it. A
 * user name alone (`ssh://git@host/…`, `git@host:org/repo`) is kept.
 */
export function withoutCredentials(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/@]*)@(.*)$/i.exec(url);
  if (!m) return url;
  const [, scheme, userinfo, rest] = m as unknown as [string, string, string, string];
  if (/^https?:\/\/$/i.test(scheme)) return `${scheme}${rest}`;
  const colon = userinfo.indexOf(":");
  return colon < 0 ? url : `${scheme}${userinfo.slice(0, colon)}@${rest}`;
}

/**
 * The current commit of a local git repo, with its remote, branch or tag, and whether it is
 * dirty: through the one git gateway (a linked worktree or GIT_DIR works), with the status in
 * its `-z` form so a file name of any bytes is one entry.
 */
export async function repoRefOf(path: string, o: { allowDirty?: boolean } = {}): Promise<RepoRef> {
  const repo = await Git.open(path).catch((e: unknown) => {
    throw isBootMetaError(e, "META_NOT_A_REPO") ? new BootMetaError("META_NOT_A_REPO", `${path} is not a git repository`, ExitCode.General, { data: { path } }) : e;
  });
  const commit = await repo.head();
  if (!commit) throw new BootMetaError("RELEASE_NO_COMMIT", `${path} has no commit yet`, ExitCode.General);
  const run = (args: string[]) => repo.run(args, { reject: false });
  const url = withoutCredentials((await run(["remote", "get-url", "origin"])).stdout.trim());
  const tag = await run(["describe", "--tags", "--exact-match", "HEAD"]);
  const branch = await run(["symbolic-ref", "--short", "-q", "HEAD"]);
  const files = statusPaths(await repo.runBytes(["status", "--porcelain=v1", "-z", "--untracked-files=normal"]));
  if (files.length && !o.allowDirty) {
    throw new BootMetaError("RELEASE_DIRTY_REPO", `${repo.dir} has uncommitted changes (${files.slice(0, 5).map(showPath).join(", ")}${files.length > 5 ? ", …" : ""}): a release must name commits that exist`, ExitCode.General, {
      data: { path, files },
      suggestions: ["commit or stash the changes, or pass --allow-dirty to record the release anyway (marked dirty)"],
    });
  }
  const name = url ? basename(url).replace(/\.git$/, "") : basename(repo.dir);
  const { exactTag, ...facts } = await commitFacts(repo, commit);
  // A version tag on the commit is the ref a release names first: it is the commit's Go version.
  return { name, url: url || undefined, commit, ref: exactTag ?? (tag.exitCode === 0 ? tag.stdout.trim() : branch.stdout.trim() || undefined), dirty: files.length > 0 || undefined, ...facts };
}

/**
 * What a Go version and an import pin need to know of a commit: its committer date in UTC
 * (Go's pseudo-versions use the commit time, not the author time: go.dev/ref/mod#pseudo-versions),
 * the module the repo holds there — read from the commit's own tree, not the work tree — and
 * the version tags Go would derive its version from: the highest on or before the commit
 * (Go's RecentTag: among the tags merged into it), and the highest on the commit itself.
 */
export async function commitFacts(repo: Git, commit: string): Promise<{ commitTime: string; module?: string; versionTag?: string; exactTag?: string }> {
  const seconds = Number((await repo.run(["show", "-s", "--format=%ct", commit])).stdout.trim());
  const [goMod, pkg] = await repo.readBlobs([`${commit}:go.mod`, `${commit}:package.json`]);
  const goModule = goModulePath(goMod);
  const tags = async (which: string) => (await repo.run(["tag", which, commit], { reject: false })).stdout.split("\n").filter((t) => t !== "");
  const versionTag = highestVersion(await tags("--merged"), goModule);
  const exactTag = versionTag === undefined ? undefined : highestVersion(await tags("--points-at"), goModule);
  return { commitTime: utcIso(seconds * 1000), module: goModule ?? packageName(pkg), versionTag, exactTag };
}

/** go.mod's `module` path: `module path` or `module "path"`, with // comments (golang.org/x/mod/modfile). */
function goModulePath(goMod: Uint8Array | undefined): string | undefined {
  for (const line of goMod ? Buffer.from(goMod).toString("utf8").split("\n") : []) {
    const m = /^\s*module\s+("([^"]+)"|`([^`]+)`|([^\s/]\S*?))\s*(\/\/.*)?$/.exec(line);
    const path = m?.[2] ?? m?.[3] ?? m?.[4];
    if (path) return path;
  }
  return undefined;
}

/** package.json's `name`. */
function packageName(packageJson: Uint8Array | undefined): string | undefined {
  if (!packageJson) return undefined;
  try {
    const name = (JSON.parse(Buffer.from(packageJson).toString("utf8")) as { name?: unknown }).name;
    return typeof name === "string" && name !== "" ? name : undefined;
  } catch {
    return undefined; // not JSON: no npm package name
  }
}

/** The paths of `git status --porcelain=v1 -z`: "XY PATH\0", a rename or copy followed by its source "\0FROM\0". */
function statusPaths(out: Buffer): string[] {
  const paths: string[] = [];
  let off = 0;
  while (off < out.length) {
    const nul = out.indexOf(0, off);
    const end = nul < 0 ? out.length : nul;
    const xy = out.toString("latin1", off, off + 2);
    paths.push(decodeName(out.subarray(off + 3, end)));
    off = end + 1;
    if (/[RC]/.test(xy)) off = (out.indexOf(0, off) < 0 ? out.length : out.indexOf(0, off)) + 1;
  }
  return paths;
}

/** Release ids sort by creation time, so `release list` is a directory listing, not a scan. */
export function releaseId(version: string, at: string): string {
  const stamp = at.replace(/[-:]/g, "").replace(/\.\d+/, "");
  return `${stamp}-${versionSlug(version)}`;
}

/** A version as it appears in a release id (and so in its file name). */
const versionSlug = (version: string) => version.replace(/[^A-Za-z0-9._-]/g, "_");

export async function createRelease(repoDir: string, project: string, o: WriteOpts & { version: string; repos: RepoRef[]; notes?: string; now?: string; imports?: Import[] }): Promise<CommitResult<Release>> {
  if (!o.version) throw new BootMetaError("INVALID_ARGUMENT", "a release needs --version", ExitCode.InvalidArgument);
  if (o.repos.length === 0) throw new BootMetaError("INVALID_ARGUMENT", "a release needs at least one repo (--repo PATH or --commit NAME=URL@HASH)", ExitCode.InvalidArgument);
  const createdAt = o.now ?? nowIso();
  const id = releaseId(o.version, createdAt);
  return commitRecords(repoDir, o, `release: ${project} ${o.version} (${id})\n\n${o.repos.map((r) => `- ${r.name} ${r.commit}${r.dirty ? " (dirty)" : ""}`).join("\n")}\n`, async (tx) => {
    await requireProject(tx, project);
    const path = recordPath.release(project, id);
    // Checked inside the commit, so a release of the same version pushed first by another
    // writer is seen when this one is re-planned on top of it.
    const existing = await newestWithVersion(tx, project, o.version);
    if (existing) {
      const at = recordPath.release(project, existing);
      throw new BootMetaError("RELEASE_VERSION_EXISTS", `${project} already has a release of version ${o.version}: ${existing} (${at}); a version is recorded once, so that the version names one build`, ExitCode.General, {
        data: { project, version: o.version, existing, path: at },
        suggestions: [`if ${existing} is the build you mean, use it (\`boot-meta release show ${project} ${existing}\`)`, "otherwise give this build a new version (e.g. a patch or build number)"],
      });
    }
    if (await tx.read(path)) throw recordExists(`release ${id}`, path);
    const release: Release = { id, project, version: o.version, repos: o.repos, createdBy: tx.author, createdAt, notes: o.notes, ...(o.imports?.length ? { imports: o.imports } : {}) };
    writeRecord(tx, "Release", path, release);
    return release;
  });
}

/** The month directories of a project's releases, newest first ("2026/11", "2026/10", …). */
async function monthsNewestFirst(r: Reader, project: string): Promise<string[]> {
  const root = releasesDir(project);
  const years = (await dirsIn(r, root)).filter((y) => /^\d{4}$/.test(y)).reverse();
  const out: string[] = [];
  for (const y of years) for (const m of (await dirsIn(r, `${root}/${y}`)).filter((x) => /^\d{2}$/.test(x)).reverse()) out.push(`${y}/${m}`);
  return out;
}

const idsIn = async (r: Reader, project: string, month: string) =>
  (await namesIn(r, `${releasesDir(project)}/${month}`)).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5)).filter((id) => RELEASE_ID.test(id));

/**
 * The id of the newest release whose version reads as `version` in an id (versions that
 * differ only in characters an id cannot hold count as the same). Months are searched
 * newest first, and the search stops at the first month that has it.
 */
async function newestWithVersion(r: Reader, project: string, version: string): Promise<string | undefined> {
  const slug = versionSlug(version);
  for (const month of await monthsNewestFirst(r, project)) {
    const last = (await idsIn(r, project, month)).filter((id) => RELEASE_ID.exec(id)?.[4] === slug).sort().at(-1);
    if (last) return last;
  }
  return undefined;
}

/** A release by id (one read), or by version (see {@link newestWithVersion}). */
export async function getRelease(r: Reader, project: string, idOrVersion: string): Promise<Release> {
  validateName("project", project);
  if (RELEASE_ID.test(idOrVersion)) {
    const direct = await readRecord<Release>(r, "Release", recordPath.release(project, idOrVersion), { id: idOrVersion, project });
    if (direct) return direct.value;
  }
  const id = await newestWithVersion(r, project, idOrVersion);
  const rec = id ? await readRecord<Release>(r, "Release", recordPath.release(project, id), { id, project }) : undefined;
  if (rec) return rec.value;
  throw recordNotFound(`release ${idOrVersion} of ${project}`, `list them with \`boot-meta release list ${project}\``);
}

/**
 * Newest first, paged: the newest months are read until the page is full, so the cost
 * follows offset + limit, not the number of releases. `more` says whether older ones exist.
 */
export async function listReleases(repoDir: string, project: string, o: { limit?: number; offset?: number; at?: string } = {}): Promise<{ commit: string; releases: Release[]; more: boolean }> {
  const offset = o.offset ?? 0;
  const limit = o.limit ?? 20;
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1) {
    throw new BootMetaError("INVALID_ARGUMENT", `--limit must be 1 or more and --offset 0 or more (got ${limit} and ${offset})`, ExitCode.InvalidArgument);
  }
  return withReader(repoDir, o.at, async (r) => {
    await requireProject(r, project);
    const ids: string[] = [];
    let more = false;
    for (const month of await monthsNewestFirst(r, project)) {
      if (ids.length > offset + limit) {
        more = true;
        break;
      }
      ids.push(...(await idsIn(r, project, month)).sort().reverse());
    }
    more ||= ids.length > offset + limit;
    const page = ids.slice(offset, offset + limit);
    const files = await r.readMany(page.map((id) => recordPath.release(project, id)));
    const releases = page.map((id) => {
      const path = recordPath.release(project, id);
      return decodeAt<Release>("Release", files.get(path) as Uint8Array, path, { id, project }).value;
    });
    return { commit: r.commit, releases, more };
  });
}
