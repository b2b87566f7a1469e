import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import type { CommitResult } from "../meta/commit.js";
import { Git } from "../meta/git.js";
import { validateName } from "../meta/layout.js";
import type { CommitReader } from "../meta/reader.js";
import { readTrusted } from "../meta/trusted-reader.js";
import type { Taint } from "../meta/verify.js";
import { getChannel } from "./channels.js";
import { goMajor, goVersionOf } from "./goversion.js";
import { commitRecords, nowIso, utcIso, type Reader, readRecord, recordPath, requireProject, withReader, type WriteOpts, writeRecord } from "./files.js";
import { commitFacts, getRelease, withoutCredentials } from "./releases.js";
import type { Import, ImportPin, Imports, Release, RepoRef } from "./types.js";

/**
 * Import pins (`<project>/imports/<channel>.json`): which version of module M project P builds
 * against on its channel C — the release another project's channel points at (resolved when
 * asked, so a promotion there moves it), a fixed release, or an explicit commit. Resolving
 * them gives what a build needs: Go `require`/`replace` lines with pseudo-versions, npm git
 * specifiers, or the whole resolution as JSON.
 */

/** What a pin follows, as `imports set` takes it. */
export type PinTarget = { follow: { project: string; channel: string } } | { release: { project: string; release: string } } | { commit: { url: string; commit: string; commitTime?: string } };

/**
 * A module path as Go and npm write one (`github.com/org/lib/v2`, `@scope/name`): segments of
 * letters, digits and `._~@+-`, no empty, `.` or `..` segment — it names a key in a file, and
 * must never read as a path that leaves one.
 */
export function validateModule(module: string): string {
  const bad = (why: string) =>
    new BootMetaError("IMPORT_INVALID_MODULE", `${JSON.stringify(module)} is not a module path: ${why}`, ExitCode.InvalidArgument, {
      data: { module },
      suggestions: ["give the module as go.mod's `module` line or package.json's `name` says it, e.g. github.com/org/lib or @org/lib"],
    });
  if (module === "") throw bad("it is empty");
  if (module.startsWith("/") || module.startsWith("-")) throw bad("it starts with / or -");
  for (const s of module.split("/")) {
    if (s === "" || s === "." || s === "..") throw bad(`it has an empty, . or .. segment`);
    if (!/^[A-Za-z0-9._~@+-]+$/.test(s)) throw bad(`the segment ${JSON.stringify(s)} has characters outside [A-Za-z0-9._~@+-]`);
  }
  return module;
}

/** `PROJECT:CHANNEL` or `PROJECT:RELEASE` as `--follow` and `--release` take them (the project may hold slashes). */
function splitTarget(flag: string, spec: string): [string, string] {
  const i = spec.lastIndexOf(":");
  if (i <= 0 || i === spec.length - 1) {
    throw new BootMetaError("IMPORT_PIN_INVALID", `--${flag} ${JSON.stringify(spec)} must look like PROJECT:${flag === "follow" ? "CHANNEL" : "RELEASE"} (e.g. shared-lib:${flag === "follow" ? "stable" : "1.4.0"})`, ExitCode.InvalidArgument, { data: { flag, spec } });
  }
  return [spec.slice(0, i), spec.slice(i + 1)];
}

/** The target of `imports set` from its flags: exactly one of --follow, --release, --commit. */
export function parsePinTarget(o: { follow?: string; release?: string; commit?: string; commitTime?: string }): PinTarget {
  const given = (["follow", "release", "commit"] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw new BootMetaError("IMPORT_PIN_INVALID", `a pin needs exactly one of --follow PROJECT:CHANNEL, --release PROJECT:RELEASE or --commit URL@SHA (got ${given.length ? given.map((g) => `--${g}`).join(" and ") : "none"})`, ExitCode.InvalidArgument, { data: { given } });
  }
  if (o.commitTime !== undefined && o.commit === undefined) throw new BootMetaError("IMPORT_PIN_INVALID", "--commit-time goes with --commit URL@SHA only (a release records its commits' times)", ExitCode.InvalidArgument);
  if (o.follow !== undefined) {
    const [project, channel] = splitTarget("follow", o.follow);
    return { follow: { project: validateName("project", project), channel: validateName("env", channel) } };
  }
  if (o.release !== undefined) {
    const [project, release] = splitTarget("release", o.release);
    return { release: { project: validateName("project", project), release } };
  }
  const m = /^(.+)@([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/.exec(o.commit as string);
  if (!m) {
    throw new BootMetaError("IMPORT_PIN_INVALID", `--commit ${JSON.stringify(o.commit)} must look like URL@SHA with the full commit hash (e.g. https://github.com/org/lib@3f2c1a9d…, 40 hex digits): a Go pseudo-version needs 12 of them and a remote cannot be asked for a prefix`, ExitCode.InvalidArgument, { data: { commit: o.commit } });
  }
  if (!/^[\x21-\x7e]+$/.test(m[1] as string)) throw new BootMetaError("IMPORT_PIN_INVALID", `--commit's URL ${JSON.stringify(m[1])} has a space or a character outside printable ASCII: it is written into go.mod and package.json as one word`, ExitCode.InvalidArgument, { data: { url: m[1] } });
  if (o.commitTime !== undefined && Number.isNaN(Date.parse(o.commitTime))) throw new BootMetaError("IMPORT_PIN_INVALID", `--commit-time ${JSON.stringify(o.commitTime)} is not an RFC 3339 time (e.g. 2026-11-25T10:15:00Z)`, ExitCode.InvalidArgument);
  return { commit: { url: withoutCredentials(m[1] as string), commit: (m[2] as string).toLowerCase(), commitTime: o.commitTime === undefined ? undefined : utcIso(o.commitTime) } };
}

/** A project's pins for a channel at the reader's commit (undefined when it has none). */
export async function readPins(r: Reader, project: string, channel: string): Promise<Imports | undefined> {
  return (await readRecord<Imports>(r, "Imports", recordPath.imports(project, channel), { project, channel }))?.value;
}

export interface SetImportResult {
  imports: Imports;
  pin: ImportPin;
  /** What the pin resolves to now (checked before it is written). */
  resolved: ResolvedImport;
  changed: boolean;
}

/**
 * `boot-meta imports set`: pins `module` for `project` on `channel`. The pin is resolved before
 * it is written, so a channel, release or module that cannot be found is refused now
 * (IMPORT_CHANNEL_NOT_FOUND, IMPORT_RELEASE_NOT_FOUND, IMPORT_MODULE_NOT_FOUND) instead of at the
 * next build. An explicit commit's time is learnt from its repository (a local directory, or a
 * shallow fetch of that one commit) unless given: IMPORT_COMMIT_UNREACHABLE when it cannot be.
 */
export async function setImport(repoDir: string, project: string, channel: string, module: string, target: PinTarget, o: WriteOpts & { now?: string; onProgress?: (line: string) => void } = {}): Promise<CommitResult<SetImportResult>> {
  validateName("project", project);
  validateName("env", channel);
  validateModule(module);
  let pin: ImportPin;
  if ("follow" in target) pin = { module, project: target.follow.project, channel: target.follow.channel };
  else if ("release" in target) pin = { module, project: target.release.project, release: target.release.release };
  else pin = { module, url: target.commit.url, commit: target.commit.commit, commitTime: target.commit.commitTime ?? (await learnCommitTime(module, target.commit.url, target.commit.commit, o.onProgress)) };
  const path = recordPath.imports(project, channel);
  return commitRecords(repoDir, o, (v: SetImportResult) => `imports: ${project}/${channel} ${module} → ${describePin(v.pin)}\n\nresolves now to ${v.resolved.commit}${v.resolved.releaseId ? ` (release ${v.resolved.releaseId})` : ""}\n`, async (tx) => {
    await requireProject(tx, project);
    const resolved = await resolvePin(tx, pin);
    // A release is pinned by its id: a version names one build, but the id says which.
    if (pin.release !== undefined) pin = { ...pin, release: resolved.releaseId };
    const current = await readRecord<Imports>(tx, "Imports", path, { project, channel });
    const others = (current?.value.pins ?? []).filter((p) => p.module !== module);
    const before = current?.value.pins?.find((p) => p.module === module);
    if (current && before && samePin(before, pin)) return { imports: current.value, pin: before, resolved, changed: false };
    const imports: Imports = { project, channel, pins: [...others, pin].sort((a, b) => (a.module < b.module ? -1 : a.module > b.module ? 1 : 0)), updatedBy: tx.author, updatedAt: o.now ?? nowIso() };
    writeRecord(tx, "Imports", path, imports, current?.unknown);
    return { imports, pin, resolved, changed: true };
  });
}

const samePin = (a: ImportPin, b: ImportPin) => (["project", "channel", "release", "url", "commit", "commitTime"] as const).every((k) => (a[k] || undefined) === (b[k] || undefined));

/** `follows shared-lib:stable`, `release shared-lib:20261125T101500Z-1.4.0`, `https://…@3f2c1a9d…`. */
export function describePin(p: ImportPin): string {
  if (p.channel) return `follows ${p.project}:${p.channel}`;
  if (p.release) return `release ${p.project}:${p.release}`;
  return `${p.url}@${p.commit}`;
}

/** `boot-meta imports unset`: removes a module's pin (the file goes with its last pin). IMPORT_PIN_NOT_FOUND when it has none. */
export async function unsetImport(repoDir: string, project: string, channel: string, module: string, o: WriteOpts & { now?: string } = {}): Promise<CommitResult<{ removed: ImportPin; imports: Imports | null }>> {
  validateName("project", project);
  validateName("env", channel);
  validateModule(module);
  const path = recordPath.imports(project, channel);
  return commitRecords(repoDir, o, `imports: ${project}/${channel} no longer pins ${module}\n`, async (tx) => {
    await requireProject(tx, project);
    const current = await readRecord<Imports>(tx, "Imports", path, { project, channel });
    const removed = current?.value.pins?.find((p) => p.module === module);
    if (!current || !removed) throw pinNotFound(project, channel, module, current?.value);
    const pins = (current.value.pins ?? []).filter((p) => p.module !== module);
    if (pins.length === 0) {
      tx.remove(path);
      return { removed, imports: null };
    }
    const imports: Imports = { ...current.value, pins, updatedBy: tx.author, updatedAt: o.now ?? nowIso() };
    writeRecord(tx, "Imports", path, imports, current.unknown);
    return { removed, imports };
  });
}

function pinNotFound(project: string, channel: string, module: string, imports: Imports | undefined): BootMetaError {
  const pinned = (imports?.pins ?? []).map((p) => p.module);
  return new BootMetaError("IMPORT_PIN_NOT_FOUND", `${project} on ${channel} pins no module ${module} (${recordPath.imports(project, channel)}); ${pinned.length ? `it pins ${pinned.slice(0, 20).join(", ")}` : "it pins nothing"}`, ExitCode.General, {
    data: { project, channel, module, pinned },
    suggestions: [`see them with \`boot-meta imports show -p ${project} --channel ${channel}\``],
  });
}

/** `boot-meta imports show`: the pins as recorded (not resolved), at HEAD or a given commit. */
export async function showImports(repoDir: string, project: string, channel: string, o: { at?: string } = {}): Promise<{ commit: string; project: string; channel: string; pins: ImportPin[] }> {
  validateName("project", project);
  validateName("env", channel);
  return withReader(repoDir, o.at, async (r) => {
    await requireProject(r, project);
    return { commit: r.commit, project, channel, pins: (await readPins(r, project, channel))?.pins ?? [] };
  });
}

/** One pin, resolved: where the module comes from, at which commit, and the version Go would call it. */
export interface ResolvedImport extends Import {
  /** follow (a channel), release, or commit (explicit). */
  source: "follow" | "release" | "commit";
  /** The version a go.mod requires it at (goversion.ts): the commit's own version tag, or a pseudo-version on the tag before it (absent without a commit time). */
  goVersion?: string;
}

export interface Resolution {
  /** The meta repository's commit the pins and channels were read at. */
  commit: string;
  project: string;
  channel: string;
  imports: ResolvedImport[];
  /** With a trust root: the paths read at their last trusted version instead of as committed. */
  untrusted?: { path: string; commit: string; reason: string; message: string }[];
}

/**
 * `boot-meta imports resolve`: every pin of `project` on `channel`, resolved at the meta
 * repository's HEAD (or `at`): a followed channel to the release it points at now (its
 * `release_id`: during a rollout, the release being rolled out), then to the repo of that
 * release whose module is the pin's. With a trust root (the loader's rule: option, then
 * BOOT_META_TRUST_ROOT or the bootstrap file, which the CLI resolves) the pins and the channels
 * and releases they lead to are read through the signed history: a path changed by someone not
 * allowed to is read at its last trusted version, and listed in `untrusted`.
 * Throws IMPORT_NO_PINS when the channel pins nothing, and the IMPORT_* errors of a pin that
 * cannot be resolved.
 */
export async function resolveImports(repoDir: string, project: string, channel: string, o: { at?: string; trustRoot?: string } = {}): Promise<Resolution> {
  validateName("project", project);
  validateName("env", channel);
  return withReader(repoDir, o.at, async (cr) => {
    const untrusted: NonNullable<Resolution["untrusted"]> = [];
    const r = o.trustRoot ? await trustedReaderAt(repoDir, cr, o.trustRoot, untrusted) : cr;
    await requireProject(r, project);
    const pins = (await readPins(r, project, channel))?.pins ?? [];
    if (pins.length === 0) {
      throw new BootMetaError("IMPORT_NO_PINS", `${project} pins no imports on channel ${channel} (${recordPath.imports(project, channel)})`, ExitCode.General, {
        data: { project, channel },
        suggestions: [`pin one: \`boot-meta imports set -p ${project} --channel ${channel} MODULE --follow PROJECT:CHANNEL\``],
      });
    }
    const imports: ResolvedImport[] = [];
    for (const pin of pins) imports.push(await resolvePin(r, pin));
    return { commit: cr.commit, project, channel, imports, ...(o.trustRoot ? { untrusted } : {}) };
  });
}

/** A reader of `cr`'s commit that reads each tainted path at its last trusted version (config/loader.ts does the same for layers), noting each in `seen`. */
async function trustedReaderAt(repoDir: string, cr: CommitReader, root: string, seen: NonNullable<Resolution["untrusted"]>): Promise<Reader> {
  const onTainted = (path: string, t: Taint) => {
    if (!seen.some((s) => s.path === path)) seen.push({ path, commit: t.commit, reason: t.reason, message: t.message });
  };
  return (await readTrusted(cr, repoDir, root, cr.commit, { onTainted })).reader;
}

/** Resolves one pin through the reader (a commit's, a write's, or a trusted view). */
async function resolvePin(r: Reader, pin: ImportPin): Promise<ResolvedImport> {
  const module = pin.module;
  // What a pins file or a release says ends up in go.mod lines and package.json: a name that
  // could break a line (or add one) is refused, not written out.
  try {
    validateModule(module);
  } catch (e) {
    throw new BootMetaError("RECORD_INVALID", `a pin names the module ${JSON.stringify(module)}: ${(e as Error).message}`, ExitCode.InvalidFormat, { data: { module } });
  }
  if (pin.url && pin.commit) {
    return withGoVersion(checked({ module, url: pin.url, commit: pin.commit, commitTime: pin.commitTime, source: "commit" }), undefined);
  }
  const project = pin.project ?? "";
  let release: Release;
  if (pin.channel) {
    const ch = await getChannel(r, project, pin.channel).catch(async (e: unknown) => {
      if (isBootMetaError(e, "CHANNEL_NOT_FOUND") || !(await projectExists(r, project))) {
        throw new BootMetaError("IMPORT_CHANNEL_NOT_FOUND", `the pin of ${module} follows ${project}:${pin.channel}, which does not exist: ${isBootMetaError(e, "CHANNEL_NOT_FOUND") ? e.message : `there is no project ${project}`}`, ExitCode.General, {
          data: { module, project, channel: pin.channel },
          suggestions: [`check the name, or pin another: \`boot-meta imports set … ${module} --follow PROJECT:CHANNEL\``],
        });
      }
      throw e;
    });
    release = await releaseOf(r, module, project, ch.releaseId);
  } else if (pin.release) {
    release = await releaseOf(r, module, project, pin.release);
  } else {
    throw new BootMetaError("RECORD_INVALID", `the pin of ${module} names neither a channel, a release nor a url@commit`, ExitCode.InvalidFormat, { data: { module } });
  }
  const repo = (release.repos ?? []).find((x) => x.module === module);
  if (!repo) throw moduleNotFound(module, project, release);
  return withGoVersion(
    checked({ module, project, url: repo.url, commit: repo.commit, commitTime: repo.commitTime, releaseId: release.id, ...(pin.channel ? { channel: pin.channel } : {}), source: pin.channel ? "follow" : "release" }),
    repo,
  );
}

/** A resolution's commit is a full hash and its URL one token of printable characters (they are written into go.mod and package.json). */
function checked(i: ResolvedImport): ResolvedImport {
  const bad = (what: string, value: string) =>
    new BootMetaError("RECORD_INVALID", `${i.module} resolves to ${what} ${JSON.stringify(value)}${i.releaseId ? ` (release ${i.releaseId})` : ""}, which cannot be written into go.mod or package.json`, ExitCode.InvalidFormat, { data: { module: i.module, [what]: value } });
  if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(i.commit)) throw bad("commit", i.commit);
  if (i.url !== undefined && !/^[\x21-\x7e]+$/.test(i.url)) throw bad("url", i.url);
  return i;
}

const projectExists = async (r: Reader, project: string) =>
  requireProject(r, project).then(
    () => true,
    () => false,
  );

async function releaseOf(r: Reader, module: string, project: string, release: string): Promise<Release> {
  try {
    return await getRelease(r, project, release);
  } catch (e) {
    if (!isBootMetaError(e, "RECORD_NOT_FOUND")) throw e;
    throw new BootMetaError("IMPORT_RELEASE_NOT_FOUND", `the pin of ${module} leads to release ${release} of ${project}, which does not exist${(await projectExists(r, project)) ? "" : ` (there is no project ${project})`}`, ExitCode.General, {
      data: { module, project, release },
      suggestions: [`list its releases: \`boot-meta release list ${project}\``],
    });
  }
}

function moduleNotFound(module: string, project: string, release: Release): BootMetaError {
  const held = (release.repos ?? []).map((x) => `${x.name}${x.module ? ` (${x.module})` : " (no module recorded)"}`);
  return new BootMetaError("IMPORT_MODULE_NOT_FOUND", `release ${release.id} of ${project} has no repo whose module is ${module}: its repos are ${held.join(", ")}`, ExitCode.General, {
    data: { module, project, release: release.id, modules: (release.repos ?? []).map((x) => x.module ?? null) },
    suggestions: ["check the module path (go.mod's `module` line or package.json's `name`)", "a release records a repo's module when it is made with --repo PATH; one made with --commit NAME=URL@HASH records none"],
  });
}

function withGoVersion(i: ResolvedImport, repo: RepoRef | undefined): ResolvedImport {
  const goVersion = i.commitTime ? goVersionOf(i.module, i.commit, i.commitTime, { tag: repo?.ref, base: repo?.versionTag }) : undefined;
  return goVersion ? { ...i, goVersion } : i;
}

/**
 * Where a repo URL says its code lives as a Go import path: `host/path` without `.git`
 * (https://host/org/lib.git, ssh://git@host/org/lib, git@host:org/lib.git → host/org/lib);
 * undefined for a local directory or file:// URL.
 */
export function importPathOfUrl(url: string): string | undefined {
  const u = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^/:]+)(?::\d+)?\/(.+?)(?:\.git)?\/?$/i.exec(url);
  if (u && !/^file:/i.test(url)) return `${(u[1] as string).toLowerCase()}/${u[2]}`;
  const scp = /^(?:[^@/:]+@)?([^/:]+\.[^/:]+):(?!\/)(.+?)(?:\.git)?\/?$/.exec(url);
  return scp ? `${(scp[1] as string).toLowerCase()}/${scp[2]}` : undefined;
}

/** A local path a `file://` URL or a plain path names, else undefined. */
function localPathOf(url: string): string | undefined {
  if (/^file:\/\//i.test(url)) return decodeURIComponent(url.replace(/^file:\/\//i, ""));
  return isAbsolute(url) || url.startsWith("./") || url.startsWith("../") ? url : undefined;
}

/**
 * go.mod lines for a resolution: a `require` per module at its version, and a `replace` where
 * the repo is not where the module path says (another host, a mirror, a local directory).
 * IMPORT_NO_COMMIT_TIME for a module whose commit time was never recorded.
 */
export function renderGo(res: Resolution): string {
  const lines: string[] = [];
  const replaces: string[] = [];
  for (const i of res.imports) {
    if (!i.goVersion) {
      throw new BootMetaError("IMPORT_NO_COMMIT_TIME", `${i.module} resolves to ${i.commit}${i.releaseId ? ` (release ${i.releaseId})` : ""}, whose commit time was not recorded: a Go pseudo-version is made of it`, ExitCode.General, {
        data: { module: i.module, commit: i.commit, release: i.releaseId ?? null },
        suggestions: ["record the release with --repo PATH (which records each commit's time), or pin the commit with --commit URL@SHA --commit-time TIME"],
      });
    }
    lines.push(`require ${i.module} ${i.goVersion}`);
    if (!i.url) continue;
    const at = importPathOfUrl(i.url);
    if (at !== undefined) {
      if (i.module === at || i.module.startsWith(`${at}/`)) continue;
      replaces.push(`replace ${i.module} => ${at} ${goMajor(at) === goMajor(i.module) ? i.goVersion : goVersionOf(at, i.commit, i.commitTime as string)}`);
    } else {
      const dir = localPathOf(i.url);
      // A directory replacement builds the directory's work tree, whatever commit it is at.
      if (dir !== undefined) replaces.push(`replace ${i.module} => ${resolve(dir)} // a directory: check it out at ${i.commit}`);
    }
  }
  return [...lines, ...replaces].join("\n") + "\n";
}

/** npm `dependencies` entries: `"name": "git+URL#SHA"`, the form npm installs a git commit from. */
export function renderNpm(res: Resolution): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of res.imports) {
    if (!i.url) {
      throw new BootMetaError("IMPORT_NO_URL", `${i.module} resolves to ${i.commit}${i.releaseId ? ` (release ${i.releaseId})` : ""}, whose repo has no URL recorded: npm installs a git dependency from one`, ExitCode.General, {
        data: { module: i.module, commit: i.commit },
        suggestions: ["give the repo a remote (git remote add origin URL) before recording the release, or pin --commit URL@SHA"],
      });
    }
    out[i.module] = `${npmGitUrl(i.url)}#${i.commit}`;
  }
  return out;
}

function npmGitUrl(url: string): string {
  if (/^git\+/i.test(url) || /^git:\/\//i.test(url)) return url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return `git+${url}`;
  const local = localPathOf(url);
  if (local !== undefined) return `git+file://${resolve(local)}`;
  // scp-like `git@host:org/repo.git`: npm reads it after git+ssh:// (docs.npmjs.com, "Git URLs as Dependencies").
  return `git+ssh://${url}`;
}

/**
 * The committer time of `commit` in the repository at `url`: read directly from a local
 * directory, else from a shallow fetch of that one commit into a scratch repository.
 */
async function learnCommitTime(module: string, url: string, commit: string, onProgress?: (line: string) => void): Promise<string> {
  const local = localPathOf(url);
  let scratch: string | undefined;
  try {
    let repo = local !== undefined && existsSync(local) && statSync(local).isDirectory() ? await Git.open(local).catch(() => undefined) : undefined;
    if (!repo || (await repo.run(["cat-file", "-e", `${commit}^{commit}`], { reject: false })).exitCode !== 0) {
      onProgress?.(`fetching ${commit.slice(0, 12)} from ${url} to learn its commit time…`);
      scratch = await mkdtemp(join(tmpdir(), "boot-meta-import-"));
      repo = await Git.init(scratch);
      await repo.fetch(["--quiet", "--depth=1", "--no-tags", local !== undefined ? resolve(local) : url, commit], url);
    }
    return (await commitFacts(repo, commit)).commitTime;
  } catch (e) {
    throw new BootMetaError("IMPORT_COMMIT_UNREACHABLE", `cannot learn the commit time of ${commit} from ${url} (the pin of ${module}): ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`, ExitCode.General, {
      data: { module, url, commit },
      suggestions: ["check the URL and that the commit is pushed there, or give it: --commit-time 2026-11-25T10:15:00Z (the commit's committer date)"],
    });
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

/** The imports to record in a release of `project` built from `channel`'s pins (`release create --imports`). */
export async function importsForRelease(repoDir: string, project: string, channel: string, o: { trustRoot?: string } = {}): Promise<Import[]> {
  const res = await resolveImports(repoDir, project, channel, o);
  return res.imports.map(({ source: _s, goVersion: _g, ...i }) => i);
}

/** A release's imports for people (`release show`, `binary which`): one line each, under a heading. */
export function importLines(release: Release): string[] {
  const imports = release.imports ?? [];
  if (imports.length === 0) return [];
  return ["imports", ...imports.map((i) => `  ${i.module.padEnd(40)} ${i.commit}${i.releaseId ? `  ${i.project} ${i.releaseId}${i.channel ? ` (via ${i.channel})` : ""}` : ""}  ${i.url ?? ""}`)];
}
