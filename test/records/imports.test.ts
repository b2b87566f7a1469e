import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { validateName } from "../../src/meta/layout.js";
import type { MetaConfig } from "../../src/meta/model.js";
import { areaOf, writersOfArea } from "../../src/meta/policy.js";
import { addKey, createProject } from "../../src/meta/repo.js";
import { compareVersions, goVersionOf, highestVersion } from "../../src/records/goversion.js";
import { parsePinTarget, setImport } from "../../src/records/imports.js";
import { createRelease, parseCommitSpec, repoRefOf } from "../../src/records/releases.js";
import { promoteChannel } from "../../src/records/channels.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { cliWith, err, out } from "../helpers/cli.js";
import { git, gitEnv, gitRepo, tempDir } from "../helpers/gitdir.js";
import { recordsRepo } from "../helpers/records.js";

/**
 * Import pins, on real repositories: source repos whose commits have known committer times
 * (set through GIT_COMMITTER_DATE, in another time zone than UTC, with an author date that
 * differs, so a pseudo-version made of the wrong one shows), meta repos with the projects
 * that release them, and the CLI run in-process.
 */

const cli = cliWith();

/** Commits everything in `dir` with these dates (committer and author differ on purpose). */
function commitAt(dir: string, committed: string, message: string): string {
  execFileSync("git", ["add", "-A"], { cwd: dir, env: gitEnv() });
  execFileSync("git", ["commit", "-q", "-m", message], { cwd: dir, env: gitEnv({ GIT_COMMITTER_DATE: committed, GIT_AUTHOR_DATE: "2001-01-01T00:00:00Z" }) });
  return git(dir, "rev-parse", "HEAD");
}

/** A source repo holding module `module` (a go.mod, or a package.json for a name starting with @), with remote `url`. */
function moduleRepo(module: string, url: string, committed = "2026-03-04T05:06:07+02:00"): { dir: string; commit: string } {
  const dir = gitRepo({ empty: true });
  git(dir, "remote", "add", "origin", url);
  if (module.startsWith("@")) writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: module, version: "0.0.0" })}\n`);
  else writeFileSync(join(dir, "go.mod"), `// a comment first\nmodule ${module} // and after\n\ngo 1.22\n`);
  return { dir, commit: commitAt(dir, committed, "first") };
}

/** The UTC committer time of `commit` as yyyymmddhhmmss, as git itself formats it. */
function gitStamp(dir: string, commit: string): string {
  return execFileSync("git", ["show", "-s", "--date=format-local:%Y%m%d%H%M%S", "--format=%cd", commit], { cwd: dir, env: gitEnv({ TZ: "UTC" }), encoding: "utf8" }).trim();
}

/** A meta repo with projects shop (which imports) and shared-lib (which releases the module). */
async function metaRepo(): Promise<string> {
  const dir = await recordsRepo();
  await createProject(dir, "shared-lib");
  await createProject(dir, "ui");
  return dir;
}

const run = (dir: string, ...args: string[]) => cli([...args, "--meta", dir]);
const json = (r: { stdout: Buffer }) => JSON.parse(out(r));

/** The meta repo's HEAD and status, to check that a refused command left both as they were. */
const stateOf = (dir: string) => [git(dir, "rev-parse", "HEAD"), git(dir, "status", "--porcelain")];

describe("releases record each repo's commit time and module", () => {
  it("commit time is the committer date in UTC, and the module is read from the commit, not the work tree", async () => {
    const lib = moduleRepo("example.com/lib", "https://example.invalid/org/lib.git");
    writeFileSync(join(lib.dir, "go.mod"), "module example.com/edited-not-committed\n");
    const ref = await repoRefOf(lib.dir, { allowDirty: true });
    expect(ref).toMatchObject({ commit: lib.commit, commitTime: "2026-03-04T03:06:07Z", module: "example.com/lib", dirty: true });

    const ui = moduleRepo("@org/ui", "https://example.invalid/org/ui.git");
    expect(await repoRefOf(ui.dir)).toMatchObject({ module: "@org/ui" });

    const plain = gitRepo();
    const bare = await repoRefOf(plain);
    expect(bare.module).toBeUndefined();
    expect(bare.commitTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});

describe("Go versions (go.dev/ref/mod#pseudo-versions)", () => {
  it("are vX.0.0-<UTC commit time>-<12 hex of the hash> for untagged commits, X the path's major version", async () => {
    const lib = moduleRepo("example.com/lib", "https://example.invalid/org/lib.git", "2026-12-31T23:59:58-05:00");
    writeFileSync(join(lib.dir, "more.go"), "package lib\n");
    const second = commitAt(lib.dir, "2027-01-01T04:59:59+00:00", "second");
    const ref = await repoRefOf(lib.dir);
    expect(ref.commit).toBe(second);
    const v = goVersionOf("example.com/lib", second, ref.commitTime as string);
    // Go's own rule, as cmd/go checks it: the timestamp is the commit time in UTC, the revision its 12-digit prefix.
    expect(v).toMatch(/^v0\.0\.0-\d{14}-[0-9a-f]{12}$/);
    expect(v).toBe(`v0.0.0-${gitStamp(lib.dir, second)}-${second.slice(0, 12)}`);
    expect(v).toBe(`v0.0.0-20270101045959-${second.slice(0, 12)}`);
    // The first commit: 23:59:58 at -05:00 is the next day in UTC.
    expect(goVersionOf("example.com/lib", lib.commit, "2027-01-01T04:59:58Z")).toBe(`v0.0.0-${gitStamp(lib.dir, lib.commit)}-${lib.commit.slice(0, 12)}`);
    expect(gitStamp(lib.dir, lib.commit)).toBe("20270101045958");
  });

  it("take the major version from a /vN path, and use the commit's own semver tag when it has one of that major", () => {
    const c = "0123456789abcdef0123456789abcdef01234567";
    const t = "2026-03-04T03:06:07Z";
    expect(goVersionOf("example.com/lib/v3", c, t)).toBe("v3.0.0-20260304030607-0123456789ab");
    expect(goVersionOf("example.com/lib", c, t, { tag: "v1.4.2" })).toBe("v1.4.2");
    expect(goVersionOf("example.com/lib/v3", c, t, { tag: "v3.1.0-rc.1" })).toBe("v3.1.0-rc.1");
    expect(goVersionOf("gopkg.in/yaml.v3", c, t)).toBe("v3.0.0-20260304030607-0123456789ab");
    // A v2 tag on a path without /v2 is not a version Go would take for it; nor is a branch name, or a tag that is not canonical.
    for (const tag of ["v2.0.0", "main", "v1.02.0", "1.4.2", "v1.4.2+build"]) expect(goVersionOf("example.com/lib", c, t, { tag, base: tag })).toBe("v0.0.0-20260304030607-0123456789ab");
    // After a release vX.Y.Z: vX.Y.(Z+1)-0.…; after a pre-release vX.Y.Z-pre: vX.Y.Z-pre.0.…
    expect(goVersionOf("example.com/lib", c, t, { base: "v1.4.2" })).toBe("v1.4.3-0.20260304030607-0123456789ab");
    expect(goVersionOf("example.com/lib/v3", c, t, { base: "v3.1.0-rc.1" })).toBe("v3.1.0-rc.1.0.20260304030607-0123456789ab");
    expect(goVersionOf("example.com/lib/v3", c, t, { base: "v1.4.2" })).toBe("v3.0.0-20260304030607-0123456789ab");
  });

  it("order tags by semver precedence, as Go picks the highest one before a commit", () => {
    const sorted = ["v0.9.0", "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.9.0", "v1.10.0"];
    for (const [i, a] of sorted.entries()) for (const [j, b] of sorted.entries()) expect(compareVersions(a, b), `${a} vs ${b}`).toBe(Math.sign(i - j));
    expect(highestVersion(["v1.9.0", "v2.0.0", "v1.10.0", "release-7", "v1.11.0+meta"], "example.com/lib")).toBe("v1.10.0");
    expect(highestVersion(["v1.9.0", "v2.0.0"], "example.com/lib/v2")).toBe("v2.0.0");
    expect(highestVersion(["v1.9.0", "v2.0.0"], undefined)).toBe("v2.0.0");
  });

  it("a release records the highest version tag before each commit, so its Go version is the one go itself derives", async () => {
    const lib = moduleRepo("example.com/lib", "https://example.invalid/org/lib.git", "2026-01-01T00:00:00Z");
    git(lib.dir, "tag", "v1.2.3");
    git(lib.dir, "tag", "-a", "-m", "annotated", "release-1");
    // A higher tag on a side branch is not before the commit; a v2 tag is not of this module's major version.
    git(lib.dir, "checkout", "-q", "-b", "side");
    writeFileSync(join(lib.dir, "side.go"), "package lib\n");
    const side = commitAt(lib.dir, "2026-01-02T00:00:00Z", "side");
    git(lib.dir, "tag", "v1.9.0", side);
    git(lib.dir, "checkout", "-q", "main");
    writeFileSync(join(lib.dir, "a.go"), "package lib\n");
    const c2 = commitAt(lib.dir, "2026-02-03T04:05:06+01:00", "second");
    git(lib.dir, "tag", "v2.0.0");
    const ref2 = await repoRefOf(lib.dir);
    // The commit's own tag is v2.0.0: its ref, but not a version of example.com/lib (that would be example.com/lib/v2).
    expect(ref2).toMatchObject({ commit: c2, ref: "v2.0.0", versionTag: "v1.2.3" });
    expect(goVersionOf("example.com/lib", c2, ref2.commitTime as string, { tag: ref2.ref, base: ref2.versionTag })).toBe(`v1.2.4-0.20260203030506-${c2.slice(0, 12)}`);

    writeFileSync(join(lib.dir, "b.go"), "package lib\n");
    commitAt(lib.dir, "2026-02-04T00:00:00Z", "third");
    git(lib.dir, "tag", "v1.3.0-rc.1");
    writeFileSync(join(lib.dir, "c.go"), "package lib\n");
    const c4 = commitAt(lib.dir, "2026-02-05T00:00:00Z", "fourth");
    const ref4 = await repoRefOf(lib.dir);
    expect(goVersionOf("example.com/lib", c4, ref4.commitTime as string, { tag: ref4.ref, base: ref4.versionTag })).toBe(`v1.3.0-rc.1.0.20260205000000-${c4.slice(0, 12)}`);

    // A commit with a version tag (and another tag) is that version, and the release names the version tag.
    git(lib.dir, "checkout", "-q", lib.commit);
    const ref1 = await repoRefOf(lib.dir);
    expect(ref1).toMatchObject({ commit: lib.commit, ref: "v1.2.3", versionTag: "v1.2.3" });
    expect(goVersionOf("example.com/lib", lib.commit, ref1.commitTime as string, { tag: ref1.ref, base: ref1.versionTag })).toBe("v1.2.3");
  });
});

describe("imports set / resolve", () => {
  it("a pin that follows another project's channel moves with a promotion there", async () => {
    const meta = await metaRepo();
    const lib = moduleRepo("github.com/org/lib", "https://github.com/org/lib.git");
    git(lib.dir, "tag", "v1.0.0");
    await createRelease(meta, "shared-lib", { version: "1.0", repos: [await repoRefOf(lib.dir)] });
    await promoteChannel(meta, "shared-lib", "stable", "1.0");

    const set = await run(meta, "imports", "set", "-p", "shop", "--channel", "stable", "github.com/org/lib", "--follow", "shared-lib:stable", "--json");
    expect(set.exitCode, err(set)).toBe(0);
    expect(json(set)).toMatchObject({ changed: true, pin: { module: "github.com/org/lib", project: "shared-lib", channel: "stable" } });
    expect(JSON.parse(readFileSync(join(meta, "shop/imports/stable.json"), "utf8"))).toMatchObject({ project: "shop", channel: "stable", pins: [{ module: "github.com/org/lib", project: "shared-lib", channel: "stable" }] });

    const go1 = await run(meta, "imports", "resolve", "-p", "shop", "--channel", "stable", "--format", "go");
    expect(go1.exitCode, err(go1)).toBe(0);
    // The repo is at the module path's own host: no replace line.
    expect(out(go1)).toBe("require github.com/org/lib v1.0.0\n");

    writeFileSync(join(lib.dir, "fix.go"), "package lib\n");
    const c2 = commitAt(lib.dir, "2026-04-01T10:00:00Z", "a fix");
    const r11 = await createRelease(meta, "shared-lib", { version: "1.1", repos: [await repoRefOf(lib.dir)] });
    await promoteChannel(meta, "shared-lib", "stable", "1.1");

    const go2 = await run(meta, "imports", "resolve", "-p", "shop", "--channel", "stable", "--format", "go");
    // After the tag v1.0.0: Go's pseudo-version of the next patch.
    expect(out(go2)).toBe(`require github.com/org/lib v1.0.1-0.20260401100000-${c2.slice(0, 12)}\n`);
    const all = await run(meta, "imports", "resolve", "-p", "shop", "--channel", "stable", "--format", "json");
    expect(json(all)).toEqual({
      commit: git(meta, "rev-parse", "HEAD"),
      project: "shop",
      channel: "stable",
      imports: [{ module: "github.com/org/lib", project: "shared-lib", url: "https://github.com/org/lib.git", commit: c2, commitTime: "2026-04-01T10:00:00Z", releaseId: r11.value.id, channel: "stable", source: "follow", goVersion: `v1.0.1-0.20260401100000-${c2.slice(0, 12)}` }],
    });
    // --json is --format json by another name.
    expect(json(await run(meta, "imports", "resolve", "-p", "shop", "--channel", "stable", "--json"))).toEqual(json(all));
  });

  it("writes a replace line when the repo is not at the module path's host, and npm git specifiers", async () => {
    const meta = await metaRepo();
    const lib = moduleRepo("example.com/lib", "git@git.example.invalid:org/lib.git");
    const ui = moduleRepo("@org/ui", "https://example.invalid/org/ui.git");
    await createRelease(meta, "shared-lib", { version: "1.0", repos: [await repoRefOf(lib.dir)] });
    await createRelease(meta, "ui", { version: "2.3.0", repos: [await repoRefOf(ui.dir)] });
    expect((await run(meta, "imports", "set", "-p", "shop", "--channel", "stable", "example.com/lib", "--release", "shared-lib:1.0")).exitCode).toBe(0);
    const uiSet = await run(meta, "imports", "set", "-p", "shop", "--channel", "stable", "@org/ui", "--release", "ui:2.3.0", "--json");
    // A release is pinned by its id, whatever it was given as.
    expect(json(uiSet).pin.release).toMatch(/^\d{8}T\d{6}Z-2\.3\.0$/);

    const go = out(await run(meta, "imports", "resolve", "-p", "shop", "--channel", "stable", "--format", "go"));
    const v = `v0.0.0-20260304030607-${lib.commit.slice(0, 12)}`;
    expect(go).toContain(`require example.com/lib ${v}\n`);
    expect(go).toContain(`replace example.com/lib => git.example.invalid/org/lib ${v}\n`);

    const npm = await run(meta, "imports", "resolve", "-p", "shop", "--channel", "stable", "--format", "npm");
    expect(npm.exitCode, err(npm)).toBe(0);
    expect(JSON.parse(out(npm))).toEqual({ "@org/ui": `git+https://example.invalid/org/ui.git#${ui.commit}`, "example.com/lib": `git+ssh://git@git.example.invalid:org/lib.git#${lib.commit}` });

    // The same pin again (by version: it is the same release) writes nothing.
    const head = git(meta, "rev-parse", "HEAD");
    const again = await run(meta, "imports", "set", "-p", "shop", "--channel", "stable", "@org/ui", "--release", "ui:2.3.0", "--json");
    expect(json(again)).toMatchObject({ changed: false, commit: null });
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);

    const shown = json(await run(meta, "imports", "show", "-p", "shop", "--channel", "stable", "--json"));
    expect(shown.pins.map((p: { module: string }) => p.module)).toEqual(["@org/ui", "example.com/lib"]);
    const unset = await run(meta, "imports", "unset", "-p", "shop", "--channel", "stable", "@org/ui", "--json");
    expect(unset.exitCode, err(unset)).toBe(0);
    expect(json(await run(meta, "imports", "show", "-p", "shop", "--channel", "stable", "--json")).pins).toHaveLength(1);
    // The last pin takes its file with it.
    expect(json(await run(meta, "imports", "unset", "-p", "shop", "--channel", "stable", "example.com/lib", "--json")).imports).toBeNull();
    expect(git(meta, "ls-tree", "-r", "--name-only", "HEAD", "shop/imports")).toBe("");
  });

  it("pins an explicit url@commit, learning its commit time from the repository", async () => {
    const meta = await metaRepo();
    const lib = moduleRepo("example.com/lib", "https://example.invalid/org/lib.git", "2026-05-06T07:08:09Z");
    writeFileSync(join(lib.dir, "later.go"), "package lib\n");
    commitAt(lib.dir, "2026-06-01T00:00:00Z", "later");
    const remote = tempDir("boot-meta-remote-");
    git(remote, "init", "-q", "--bare", "-b", "main");
    git(lib.dir, "push", "-q", remote, "main");
    // Not the remote's tip: fetched by its hash alone.
    const set = await run(meta, "imports", "set", "-p", "shop", "--channel", "dev", "example.com/lib", "--commit", `file://${remote}@${lib.commit}`, "--json");
    expect(set.exitCode, err(set)).toBe(0);
    expect(json(set).pin).toEqual({ module: "example.com/lib", url: `file://${remote}`, commit: lib.commit, commitTime: "2026-05-06T07:08:09Z" });
    const go = out(await run(meta, "imports", "resolve", "-p", "shop", "--channel", "dev", "--format", "go"));
    expect(go).toBe(`require example.com/lib v0.0.0-20260506070809-${lib.commit.slice(0, 12)}\nreplace example.com/lib => ${remote} // a directory: check it out at ${lib.commit}\n`);

    // A token in the URL is never recorded; with --commit-time nothing is fetched.
    const token = await run(meta, "imports", "set", "-p", "shop", "--channel", "dev", "example.com/other", "--commit", `https://ci:ghp_s3cr3tT0ken@example.invalid/org/other.git@${lib.commit}`, "--commit-time", "2026-05-06T09:08:09+02:00", "--json");
    expect(token.exitCode, err(token)).toBe(0);
    expect(json(token).pin).toEqual({ module: "example.com/other", url: "https://example.invalid/org/other.git", commit: lib.commit, commitTime: "2026-05-06T07:08:09Z" });
    expect(readFileSync(join(meta, "shop/imports/dev.json"), "utf8")).not.toContain("s3cr3t");
    expect(git(meta, "log", "-p", "-1")).not.toContain("s3cr3t");

    // The fetch is the slow part: it is announced (a progress line on a terminal), once.
    const lines: string[] = [];
    await setImport(meta, "shop", "beta", "example.com/lib", parsePinTarget({ commit: `file://${remote}@${lib.commit}` }), { onProgress: (l) => lines.push(l) });
    expect(lines).toEqual([`fetching ${lib.commit.slice(0, 12)} from file://${remote} to learn its commit time…`]);
    await setImport(meta, "shop", "beta", "example.com/other", parsePinTarget({ commit: `https://example.invalid/org/other.git@${lib.commit}`, commitTime: "2026-05-06T07:08:09Z" }), { onProgress: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);

    const before = stateOf(meta);
    const missing = await run(meta, "imports", "set", "-p", "shop", "--channel", "dev", "example.com/lib", "--commit", `file://${remote}@${"0".repeat(40)}`, "--json");
    expect(missing.exitCode).toBe(1);
    expect(json(missing).error).toMatchObject({ code: "IMPORT_COMMIT_UNREACHABLE", message: expect.stringContaining(`cannot learn the commit time of ${"0".repeat(40)} from file://${remote}`) });
    expect(stateOf(meta)).toEqual(before);
  });
});

describe("a release records the imports it was built with", () => {
  it("release create --imports records them; release show and binary which show them", async () => {
    const meta = await metaRepo();
    const lib = moduleRepo("github.com/org/lib", "https://github.com/org/lib.git");
    const libRel = await createRelease(meta, "shared-lib", { version: "1.0", repos: [await repoRefOf(lib.dir)] });
    await promoteChannel(meta, "shared-lib", "stable", "1.0");
    expect((await run(meta, "imports", "set", "-p", "shop", "--channel", "stable", "github.com/org/lib", "--follow", "shared-lib:stable")).exitCode).toBe(0);
    const app = moduleRepo("github.com/org/shop", "https://github.com/org/shop.git");

    const made = await run(meta, "release", "create", "shop", "--version", "2.0", "--repo", app.dir, "--imports", "stable", "--json");
    expect(made.exitCode, err(made)).toBe(0);
    const imported = { module: "github.com/org/lib", project: "shared-lib", url: "https://github.com/org/lib.git", commit: lib.commit, commitTime: "2026-03-04T03:06:07Z", releaseId: libRel.value.id, channel: "stable" };
    expect(json(made).imports).toEqual([imported]);
    expect(json(made).repos[0]).toMatchObject({ commit: app.commit, module: "github.com/org/shop", commitTime: "2026-03-04T03:06:07Z" });

    expect(json(await run(meta, "release", "show", "shop", "2.0", "--json")).imports).toEqual([imported]);
    const shown = out(await run(meta, "release", "show", "shop", "2.0"));
    expect(shown).toContain("imports\n");
    expect(shown).toMatch(new RegExp(`github\\.com/org/lib\\s+${lib.commit}\\s+shared-lib ${libRel.value.id} \\(via stable\\)`));

    const file = join(tempDir(), "shop-2.0");
    writeFileSync(file, "#!/bin/sh\necho shop 2.0\n");
    expect((await run(meta, "binary", "add", "shop", file, "--release", "2.0", "--os", "linux", "--arch", "amd64", "--url", "https://artifacts.invalid/shop/2.0")).exitCode).toBe(0);
    const which = await run(meta, "binary", "which", file);
    expect(which.exitCode, err(which)).toBe(0);
    expect(out(which)).toContain(app.commit);
    expect(out(which)).toMatch(new RegExp(`github\\.com/org/lib\\s+${lib.commit}`));
    expect(json(await run(meta, "binary", "which", file, "--json")).release.imports).toEqual([imported]);

    // --imports on a channel without pins: refused, and no release written.
    const before = stateOf(meta);
    const none = await run(meta, "release", "create", "shop", "--version", "2.1", "--repo", app.dir, "--imports", "beta", "--json");
    expect(none.exitCode).toBe(1);
    expect(json(none).error).toMatchObject({ code: "IMPORT_NO_PINS", message: "shop pins no imports on channel beta (shop/imports/beta.json)" });
    expect(stateOf(meta)).toEqual(before);
  });
});

describe("pins that cannot be resolved, and names that are not names", () => {
  let meta: string;
  let lib: { dir: string; commit: string };
  beforeAll(async () => {
    meta = await metaRepo();
    lib = moduleRepo("github.com/org/lib", "https://github.com/org/lib.git");
    await createRelease(meta, "shared-lib", { version: "1.0", repos: [await repoRefOf(lib.dir)] });
    await createRelease(meta, "shared-lib", { version: "0.9", repos: [parseCommitSpec(`lib=https://github.com/org/lib@${lib.commit}`)] });
    await promoteChannel(meta, "shared-lib", "stable", "1.0");
  });

  const refused = async (args: string[], exitCode: number, code: string, message: string | RegExp) => {
    const before = stateOf(meta);
    const r = await run(meta, ...args, "--json");
    expect(r.exitCode, out(r)).toBe(exitCode);
    expect(json(r).error.code).toBe(code);
    expect(json(r).error.message).toMatch(message);
    expect(stateOf(meta)).toEqual(before);
  };
  const set = ["imports", "set", "-p", "shop", "--channel", "stable"];

  it("a module, channel, release or project that does not exist is named in a typed error, and nothing is written", async () => {
    await refused([...set, "github.com/org/other", "--follow", "shared-lib:stable"], 1, "IMPORT_MODULE_NOT_FOUND", /^release \d{8}T\d{6}Z-1\.0 of shared-lib has no repo whose module is github\.com\/org\/other: its repos are lib \(github\.com\/org\/lib\)$/);
    await refused([...set, "github.com/org/lib", "--follow", "shared-lib:nightly"], 1, "IMPORT_CHANNEL_NOT_FOUND", /follows shared-lib:nightly, which does not exist: there is no channel nightly in shared-lib .*its channels are stable/);
    await refused([...set, "github.com/org/lib", "--follow", "nowhere:stable"], 1, "IMPORT_CHANNEL_NOT_FOUND", /follows nowhere:stable, which does not exist/);
    await refused([...set, "github.com/org/lib", "--release", "shared-lib:7.7"], 1, "IMPORT_RELEASE_NOT_FOUND", /^the pin of github\.com\/org\/lib leads to release 7\.7 of shared-lib, which does not exist$/);
    await refused(["imports", "unset", "-p", "shop", "--channel", "stable", "github.com/org/lib"], 1, "IMPORT_PIN_NOT_FOUND", /^shop on stable pins no module github\.com\/org\/lib \(shop\/imports\/stable\.json\); it pins nothing$/);
    await refused(["imports", "resolve", "-p", "shop", "--channel", "stable"], 1, "IMPORT_NO_PINS", /^shop pins no imports on channel stable/);
  });

  it("a release made from --commit records no module; a pin without a commit time gets no Go version, by name, and JSON still resolves", async () => {
    await refused([...set, "github.com/org/lib", "--release", "shared-lib:0.9"], 1, "IMPORT_MODULE_NOT_FOUND", /its repos are lib \(no module recorded\)$/);
    // Written by hand (or by an older writer): an explicit pin without its commit time.
    mkdirSync(join(meta, "shop/imports"), { recursive: true });
    writeFileSync(join(meta, "shop/imports/beta.json"), `${JSON.stringify({ project: "shop", channel: "beta", pins: [{ module: "github.com/org/lib", url: "https://github.com/org/lib", commit: lib.commit }], updatedAt: "2026-01-01T00:00:00Z" })}\n`);
    git(meta, "add", "-A");
    git(meta, "commit", "-qm", "a pin without its commit time");
    const r = await run(meta, "imports", "resolve", "-p", "shop", "--channel", "beta", "--format", "go");
    expect(r.exitCode).toBe(1);
    expect(err(r)).toContain(`github.com/org/lib resolves to ${lib.commit}, whose commit time was not recorded`);
    expect(err(r)).toContain("IMPORT_NO_COMMIT_TIME");
    expect(json(await run(meta, "imports", "resolve", "-p", "shop", "--channel", "beta", "--format", "json")).imports[0]).toEqual({ module: "github.com/org/lib", url: "https://github.com/org/lib", commit: lib.commit, source: "commit" });
  });

  it("a pins file whose module or commit would break the lines written from it is refused, not written out", async () => {
    const hostile = [
      { module: "example.com/x\nreplace example.com/y => /tmp/evil", url: "https://example.invalid/x", commit: lib.commit, commitTime: "2026-01-01T00:00:00Z" },
      { module: "example.com/x", url: "https://example.invalid/x", commit: "main\nreplace", commitTime: "2026-01-01T00:00:00Z" },
      { module: "example.com/x", url: "https://example.invalid/x y", commit: lib.commit, commitTime: "2026-01-01T00:00:00Z" },
    ];
    for (const [i, pin] of hostile.entries()) {
      mkdirSync(join(meta, "shop/imports"), { recursive: true });
      writeFileSync(join(meta, `shop/imports/h${i}.json`), `${JSON.stringify({ project: "shop", channel: `h${i}`, pins: [pin], updatedAt: "2026-01-01T00:00:00Z" })}\n`);
      git(meta, "add", "-A");
      git(meta, "commit", "-qm", `a hostile pin ${i}`);
      const r = await run(meta, "imports", "resolve", "-p", "shop", "--channel", `h${i}`, "--format", "go");
      expect(r.exitCode).toBe(49);
      expect(out(r)).toBe("");
      expect(err(r)).toContain("RECORD_INVALID");
    }
    await refused([...set, "example.com/x", "--commit", `https://example.invalid/x y@${lib.commit}`, "--commit-time", "2026-01-01T00:00:00Z"], 2, "IMPORT_PIN_INVALID", /has a space or a character outside printable ASCII/);
  });

  it("path-like names are refused before anything is read or written", async () => {
    await refused([...set, "../x", "--follow", "shared-lib:stable"], 2, "IMPORT_INVALID_MODULE", /^"\.\.\/x" is not a module path: it has an empty, \. or \.\. segment$/);
    await refused([...set, "github.com/org/../lib", "--follow", "shared-lib:stable"], 2, "IMPORT_INVALID_MODULE", /\.\. segment/);
    await refused([...set, "/etc/passwd", "--follow", "shared-lib:stable"], 2, "IMPORT_INVALID_MODULE", /starts with \//);
    await refused([...set, "github.com/org/lib", "--follow", "../x:stable"], 2, "META_INVALID_NAME", /^"\.\.\/x" is not a valid project name/);
    await refused([...set, "github.com/org/lib", "--follow", "shared-lib:../stable"], 2, "META_INVALID_NAME", /^"\.\.\/stable" is not a valid env name/);
    await refused(["imports", "set", "-p", "shop", "--channel", "../../etc", "github.com/org/lib", "--follow", "shared-lib:stable"], 2, "META_INVALID_NAME", /^"\.\.\/\.\.\/etc" is not a valid env name/);
    await refused(["imports", "resolve", "-p", "../shop", "--channel", "stable"], 2, "META_INVALID_NAME", /^"\.\.\/shop" is not a valid project name/);
    await refused([...set, "github.com/org/lib"], 2, "IMPORT_PIN_INVALID", /exactly one of --follow .* \(got none\)$/);
    await refused([...set, "github.com/org/lib", "--follow", "shared-lib:stable", "--release", "shared-lib:1.0"], 2, "IMPORT_PIN_INVALID", /\(got --follow and --release\)$/);
    await refused([...set, "github.com/org/lib", "--commit", "https://github.com/org/lib@abc123"], 2, "IMPORT_PIN_INVALID", /full commit hash/);
    await refused([...set, "github.com/org/lib", "--follow", "shared-lib"], 2, "IMPORT_PIN_INVALID", /must look like PROJECT:CHANNEL/);
  });
});

describe("the layout", () => {
  it("reserves imports/ in a project (never part of a project name), and gives pins to the release writers", () => {
    expect(() => validateName("project", "shop/imports")).toThrowError(expect.objectContaining({ code: "META_INVALID_NAME", message: expect.stringMatching(/\bimports\/.* anywhere, are reserved by the layout/) }));
    expect(areaOf("shop/imports/stable.json", ["shop"])).toEqual({ area: "releases", project: "shop" });
    expect(writersOfArea({ version: 1, groups: { admins: ["root"], ci: ["builder"], developers: ["alice"] }, access: { project: [], envs: {} } } satisfies MetaConfig, { area: "releases", project: "shop" }).principals).toEqual(["builder", "root"]);
  });
});

describe("with a trust root, resolve reads pins and followed channels as allowed signers wrote them", () => {
  /** An ed25519 key made here (test-only), and its `ssh-ed25519` line for keys/. */
  const sshKey = (name: string) => {
    const keyFile = join(tempDir("boot-meta-ssh-"), "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@test (test-only key)`, "-f", keyFile]);
    return { keyFile, sshLine: readFileSync(`${keyFile}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ") };
  };

  it("a channel promoted by an unknown key, and a pin rewritten by a developer (pins are written by admins and ci), are read at their trusted versions", async () => {
    const { keyFile, sshLine } = sshKey("admin");
    const alice = sshKey("alice");
    const meta = join(tempDir(), "meta");
    const { initRepo } = await import("../../src/meta/repo.js");
    await initRepo(meta);
    git(meta, "config", "gpg.format", "ssh");
    git(meta, "config", "user.signingkey", keyFile);
    git(meta, "config", "commit.gpgsign", "true");
    const age = await generateAgeKey();
    const root = (await addKey(meta, "admin", [age.recipient, sshLine], { group: "admins", identities: await identitySetFrom([age.identity]) })).commit as string;
    await addKey(meta, "alice", [(await generateAgeKey()).recipient, alice.sshLine], { group: "developers", identities: await identitySetFrom([age.identity]) });
    for (const p of ["shop", "shared-lib"]) await createProject(meta, p);
    const lib = moduleRepo("github.com/org/lib", "https://github.com/org/lib.git");
    await createRelease(meta, "shared-lib", { version: "1.0", repos: [await repoRefOf(lib.dir)] });
    writeFileSync(join(lib.dir, "x.go"), "package lib\n");
    const c2 = commitAt(lib.dir, "2026-04-01T10:00:00Z", "second");
    await createRelease(meta, "shared-lib", { version: "1.1", repos: [await repoRefOf(lib.dir)] });
    await promoteChannel(meta, "shared-lib", "stable", "1.0");
    expect((await run(meta, "imports", "set", "-p", "shop", "--channel", "stable", "github.com/org/lib", "--follow", "shared-lib:stable")).exitCode).toBe(0);
    git(meta, "config", "commit.gpgsign", "false");

    // Someone with push access but no key in keys/: unsigned commits.
    await promoteChannel(meta, "shared-lib", "stable", "1.1");
    const resolve = (...extra: string[]) => run(meta, "imports", "resolve", "-p", "shop", "--channel", "stable", "--format", "json", ...extra);
    expect(json(await resolve()).imports[0].commit).toBe(c2);
    const trusted = await resolve("--trust-root", root);
    expect(trusted.exitCode, err(trusted)).toBe(0);
    expect(json(trusted).imports[0].commit).toBe(lib.commit);
    expect(json(trusted).untrusted).toEqual([expect.objectContaining({ path: "shared-lib/channels/stable.json", reason: "unsigned" })]);
    expect(err(trusted)).toContain("shared-lib/channels/stable.json is read at its last trusted version");

    const pins = join(meta, "shop/imports/stable.json");
    const pin = JSON.parse(readFileSync(pins, "utf8"));
    pin.pins = [{ module: "github.com/org/lib", url: "https://evil.invalid/lib", commit: c2, commitTime: "2026-04-01T10:00:00Z" }];
    writeFileSync(pins, `${JSON.stringify(pin, null, 2)}\n`);
    // Signed by alice, whose key is in keys/: a known signer, but the rules do not let developers write pins.
    git(meta, "-c", "gpg.format=ssh", "-c", `user.signingkey=${alice.keyFile}`, "commit", "-q", "-S", "-am", "repoint the lib");
    expect(json(await resolve()).imports[0].url).toBe("https://evil.invalid/lib");
    const still = json(await resolve("--trust-root", root));
    expect(still.imports[0]).toMatchObject({ url: "https://github.com/org/lib.git", commit: lib.commit, channel: "stable" });
    expect(still.untrusted).toEqual([
      expect.objectContaining({ path: "shop/imports/stable.json", reason: "not-allowed", message: expect.stringContaining("alice may not change shop/imports/stable.json: write.releases (default) allows admin") }),
      expect.objectContaining({ path: "shared-lib/channels/stable.json", reason: "unsigned" }),
    ]);
    // BOOT_META_TRUST_ROOT does the same as the flag.
    expect(json(await cli(["imports", "resolve", "-p", "shop", "--channel", "stable", "--meta", meta, "--json"], { env: { BOOT_META_TRUST_ROOT: root } })).imports[0].commit).toBe(lib.commit);
  });
});
