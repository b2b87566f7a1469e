import { existsSync, readFileSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, gitRepo, tempDir } from "../helpers/gitdir.js";

/**
 * Writes where git's directories are not `<top>/.git`: a linked worktree (`git worktree add`,
 * whose `.git` is a file) and GIT_DIR / GIT_WORK_TREE. And the work tree a write brings
 * along: a touched but unchanged file is clean, a changed one is refused before anything is
 * written. Through the CLI, as a user runs it.
 */
const cli = cliWith();

async function metaRepo() {
  const root = tempDir();
  const meta = join(root, "meta");
  const admin = await ageKeyFile(root);
  const env = { SOPS_AGE_KEY_FILE: admin.file };
  const ok = async (args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) => {
    const r = await cli(args, { env: { ...env, ...o.env }, cwd: o.cwd });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    return r;
  };
  await ok(["init", meta]);
  await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", "--meta", meta]);
  await ok(["project", "create", "shop", "--meta", meta]);
  await ok(["env", "create", "shop", "dev", "--meta", meta]);
  return { root, meta, env, ok };
}

const DEV = "shop/envs/dev/config.sops.yaml";

describe("writes where .git is not a directory at the top", () => {
  it("config set and release create work in a linked worktree, and leave it clean", async () => {
    const { root, meta, ok } = await metaRepo();
    const wt = join(root, "wt");
    git(meta, "worktree", "add", "-q", "-b", "feature", wt);
    await ok(["config", "set", "db.port", "5432", "-p", "shop", "-e", "dev", "--meta", wt]);
    // The source repo of the release is a linked worktree too.
    const app = gitRepo();
    const appWt = join(tempDir(), "app-wt");
    git(app, "worktree", "add", "-q", "-b", "rel", appWt);
    const rel = JSON.parse(out(await ok(["release", "create", "shop", "--version", "1.0.0", "--repo", appWt, "--json", "--meta", wt])));
    expect(rel.repos).toEqual([expect.objectContaining({ commit: git(app, "rev-parse", "HEAD"), ref: "rel" })]);
    expect(git(wt, "log", "--format=%s", "-2").split("\n")).toEqual([expect.stringMatching(/^release: shop 1\.0\.0/), `config: set db.port in ${DEV}`]);
    // The worktree's branch moved, main did not; both work trees are clean.
    expect(git(meta, "rev-parse", "main")).not.toBe(git(meta, "rev-parse", "feature"));
    expect(git(wt, "status", "--porcelain")).toBe("");
    expect(git(meta, "status", "--porcelain")).toBe("");
    expect(git(meta, "fsck", "--no-progress")).toBe("");
    const shown = JSON.parse(out(await ok(["config", "show", "--json", "-p", "shop", "-e", "dev", "--meta", wt])));
    expect(shown.config).toEqual({ db: { port: 5432 } });
  });

  it("config set and release create work with GIT_DIR and GIT_WORK_TREE set, absolute or relative", async () => {
    const { root, meta, ok } = await metaRepo();
    renameSync(join(meta, ".git"), join(root, "meta.git"));
    const abs = { GIT_DIR: join(root, "meta.git"), GIT_WORK_TREE: meta };
    await ok(["config", "set", "a", "1", "-p", "shop", "-e", "dev", "--meta", meta], { env: abs });
    // Relative, as a user types them: resolved from where the command runs, not from the meta repo.
    await ok(["release", "create", "shop", "--version", "2.0.0", "--commit", "app=https://example.invalid/app@abcdef1", "--meta", "meta"], { env: { GIT_DIR: "meta.git", GIT_WORK_TREE: "meta" }, cwd: root });
    const g = (...args: string[]) => git(root, "--git-dir", "meta.git", "--work-tree", "meta", ...args);
    expect(g("log", "--format=%s", "-2").split("\n")).toEqual([expect.stringMatching(/^release: shop 2\.0\.0/), `config: set a in ${DEV}`]);
    expect(g("status", "--porcelain")).toBe("");
    expect(g("fsck", "--no-progress")).toBe("");
    // Nothing was made where git does not look.
    expect(existsSync(join(meta, ".git"))).toBe(false);
  });
});

describe("the work tree a write brings along", () => {
  it("a touched but unchanged file is clean: the write commits and the work tree follows", async () => {
    const { meta, ok } = await metaRepo();
    const file = join(meta, DEV);
    const future = new Date(Date.now() + 3_600_000);
    utimesSync(file, future, future);
    const before = git(meta, "rev-parse", "HEAD");
    await ok(["config", "set", "k", "v", "-p", "shop", "-e", "dev", "--meta", meta]);
    expect(git(meta, "rev-parse", "HEAD^")).toBe(before);
    expect(git(meta, "status", "--porcelain")).toBe("");
    expect(readFileSync(file, "utf8")).toBe(git(meta, "show", `HEAD:${DEV}`) + "\n");
  });

  it("a changed file (in the work tree or staged) is refused before anything is written, and kept", async () => {
    const { meta, env } = await metaRepo();
    const file = join(meta, DEV);
    const before = git(meta, "rev-parse", "HEAD");
    const committed = readFileSync(file, "utf8");
    for (const staged of [false, true]) {
      const edited = `${committed}# my edit\n`;
      writeFileSync(file, edited);
      // Staged, and the work tree file put back: only the index holds the edit.
      if (staged) (git(meta, "add", DEV), writeFileSync(file, committed));
      const r = await cli(["config", "set", "k", "v", "-p", "shop", "-e", "dev", "--json", "--meta", meta], { env });
      expect(r.exitCode).toBe(1);
      expect(JSON.parse(out(r)).error).toMatchObject({ code: "META_DIRTY_WORKTREE", data: { files: [DEV] } });
      expect(git(meta, "rev-parse", "HEAD")).toBe(before);
      expect(readFileSync(file, "utf8")).toBe(staged ? committed : edited);
      if (staged) expect(git(meta, "show", `:${DEV}`) + "\n").toBe(edited);
      git(meta, "reset", "-q", "--hard");
    }
  });
});
