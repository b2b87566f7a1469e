import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type ConfigWarning, loadConfig } from "../../src/config/loader.js";
import { setConfigValue } from "../../src/config/edit.js";
import { addKey, createEnv, createProject, initRepo } from "../../src/meta/repo.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { git, tempDir } from "../helpers/gitdir.js";

/**
 * loadConfig from a git URL, against real bare remotes on disk: it follows the remote's
 * default branch (or BOOT_META_REF / `ref`), recovers a cache that went wrong, and serves the
 * last fetched copy, said to be stale, when the remote cannot be reached.
 */
let admin: Awaited<ReturnType<typeof generateAgeKey>>;
const P = "shop";

beforeAll(async () => {
  admin = await generateAgeKey();
});

/** A meta repo with shop/dev holding v=1 on main, pushed to a bare remote whose HEAD is main. */
async function remoteWithConfig() {
  const work = join(tempDir(), "meta");
  await initRepo(work);
  const ids = await identitySetFrom([admin.identity]);
  await addKey(work, "admin", [admin.recipient], { group: "admins", identities: ids });
  await createProject(work, P);
  await createEnv(work, P, "dev");
  await setConfigValue(work, { project: P, env: "dev" }, "v", 1n, { identities: ids });
  const bare = join(tempDir(), "meta.git");
  git(tempDir(), "clone", "-q", "--bare", work, bare);
  git(work, "remote", "add", "origin", bare);
  /** Sets v on a branch of the remote, made from main, through the work repo. */
  const setOn = async (branch: string, v: bigint) => {
    git(work, "checkout", "-q", "-B", branch, "main");
    await setConfigValue(work, { project: P, env: "dev" }, "v", v, { identities: ids });
    git(work, "push", "-q", "-f", "origin", `${branch}:${branch}`);
  };
  return { work, bare, url: `file://${bare}`, setOn };
}

const load = (url: string, cacheDir: string, o: { ref?: string; environment?: NodeJS.ProcessEnv; warnings?: ConfigWarning[] } = {}) =>
  loadConfig({ repo: url, project: P, env: "dev", identities: [admin.identity], cacheDir, environment: o.environment ?? {}, ref: o.ref, onWarning: (w) => o.warnings?.push(w) });

const cachedRepo = (cacheDir: string, url: string) => join(cacheDir, createHash("sha256").update(url).digest("hex").slice(0, 16));

describe("loadConfig from a git URL", () => {
  it("follows the remote's default branch, also when the remote changes which branch that is", async () => {
    const r = await remoteWithConfig();
    const cache = tempDir();
    expect((await load(r.url, cache)).config).toEqual({ v: 1 });
    await r.setOn("next", 7n);
    expect((await load(r.url, cache)).config).toEqual({ v: 1 });
    git(r.bare, "symbolic-ref", "HEAD", "refs/heads/next");
    const c = await load(r.url, cache);
    expect(c.config).toEqual({ v: 7 });
    expect(c.commit).toBe(git(r.bare, "rev-parse", "next"));
    expect(c.stale).toBe(false);
  });

  it("reads the branch or tag given by BOOT_META_REF or the ref option", async () => {
    const r = await remoteWithConfig();
    await r.setOn("stage", 5n);
    git(r.bare, "tag", "v5", "stage");
    const cache = tempDir();
    expect((await load(r.url, cache, { environment: { BOOT_META_REF: "stage" } })).config).toEqual({ v: 5 });
    expect((await load(r.url, cache, { ref: "v5" })).config).toEqual({ v: 5 });
    // The option wins over the variable; the default branch is still there beside them.
    expect((await load(r.url, cache, { ref: "main", environment: { BOOT_META_REF: "stage" } })).config).toEqual({ v: 1 });
    expect((await load(r.url, cache)).config).toEqual({ v: 1 });
  });

  it("refuses a ref that is no branch name (an option, a refspec) and one the remote does not have", async () => {
    const r = await remoteWithConfig();
    const cache = tempDir();
    for (const bad of ["--upload-pack=touch /tmp/x", "main:refs/heads/x", "a..b", "+main"]) {
      const e = await load(r.url, cache, { ref: bad }).catch((x: unknown) => x);
      expect(e, bad).toMatchObject({ code: "CONFIG_INVALID_REF", exitCode: 2 });
    }
    await expect(load(r.url, cache, { ref: "nope" })).rejects.toMatchObject({ code: "META_UNKNOWN_REMOTE_REF", message: expect.stringContaining("nope") });
  });

  it("points a cached clone whose remote URL was changed back at the URL, and follows a remote whose history was replaced", async () => {
    const r = await remoteWithConfig();
    const cache = tempDir();
    await load(r.url, cache);
    const clone = cachedRepo(cache, r.url);
    git(clone, "remote", "set-url", "origin", join(tempDir(), "elsewhere.git"));
    expect((await load(r.url, cache)).stale).toBe(false);
    expect(git(clone, "remote", "get-url", "origin")).toBe(r.url);
    // Another repository at the same URL, sharing no history with the first.
    const other = await remoteWithConfig();
    await other.setOn("main", 42n);
    rmSync(r.bare, { recursive: true, force: true });
    git(tempDir(), "clone", "-q", "--bare", other.work, r.bare);
    const c = await load(r.url, cache);
    expect(c.config).toEqual({ v: 42 });
    expect(c.commit).toBe(git(other.work, "rev-parse", "main"));
  });

  it("makes the cache again when it is not a repository (a clone killed half way)", async () => {
    const r = await remoteWithConfig();
    const cache = tempDir();
    const clone = cachedRepo(cache, r.url);
    mkdirSync(clone, { recursive: true });
    writeFileSync(join(clone, "leftover"), "x");
    expect((await load(r.url, cache)).config).toEqual({ v: 1 });
    expect(git(clone, "rev-parse", "--show-toplevel")).toMatch(/[0-9a-f]{16}$/);
    // No half-made clone is left beside it.
    expect(readdirSync(cache)).toEqual([clone.split("/").pop()]);
  });

  it("serves the last fetched copy, marked stale and with a warning, when the remote is unreachable", async () => {
    const r = await remoteWithConfig();
    const cache = tempDir();
    const first = await load(r.url, cache);
    renameSync(r.bare, `${r.bare}.moved`);
    const warnings: ConfigWarning[] = [];
    const c = await load(r.url, cache, { warnings });
    expect(c).toMatchObject({ config: { v: 1 }, commit: first.commit, stale: true });
    expect(warnings).toEqual([{ code: "CONFIG_STALE", message: expect.stringMatching(/cannot fetch the meta repository file:\/\/.*; serving the last fetched copy \(commit [0-9a-f]{12}\)/) }]);
    // Back again: fresh, and no warning.
    renameSync(`${r.bare}.moved`, r.bare);
    warnings.length = 0;
    expect((await load(r.url, cache, { warnings })).stale).toBe(false);
    expect(warnings).toEqual([]);
  });

  it("says there is no last known good copy when an unreachable remote was never fetched (or not that ref)", async () => {
    const r = await remoteWithConfig();
    const cache = tempDir();
    const missing = `file://${join(tempDir(), "missing.git")}`;
    const e = await load(missing, cache).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "META_REMOTE_UNAVAILABLE", suggestions: expect.arrayContaining([expect.stringContaining("no last known good copy")]) });
    expect(readdirSync(cache)).toEqual([]);
    await load(r.url, cache);
    rmSync(r.bare, { recursive: true, force: true });
    const e2 = await load(r.url, cache, { ref: "stage" }).catch((x: unknown) => x);
    expect(e2).toMatchObject({ code: "META_REMOTE_UNAVAILABLE", suggestions: expect.arrayContaining([expect.stringContaining("its ref stage was cached")]) });
  });
});
