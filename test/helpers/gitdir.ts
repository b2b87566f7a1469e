import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

/**
 * The one temp-dir / real-git fixture for tests (changesets' `gitdir()` habit): every
 * directory made here lies under one root per test file, removed after the file. No mocks:
 * these are real repos and bare remotes on disk.
 */
let root: string | undefined;
afterAll(() => {
  if (root === undefined) return;
  const dir = root;
  root = undefined;
  // Removed by a process of its own that the tests do not wait for: a file's repos can hold
  // hundreds of MB, and deleting them on a busy disk must not hold up, or time out, the run.
  try {
    spawn("rm", ["-rf", "--", dir], { detached: true, stdio: "ignore" }).unref();
  } catch {
    rmSync(dir, { recursive: true, force: true });
  }
});

export function tempDir(prefix = "boot-meta-test-"): string {
  root ??= mkdtempSync(join(tmpdir(), "boot-meta-tests-"));
  return mkdtempSync(join(root, prefix));
}

/** Runs git with a fixed test identity and no user/system config leaking in. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: gitEnv(), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_AUTHOR_NAME: "Test Author",
    GIT_AUTHOR_EMAIL: "author@test.invalid",
    GIT_COMMITTER_NAME: "Test Author",
    GIT_COMMITTER_EMAIL: "author@test.invalid",
    GIT_CONFIG_NOSYSTEM: "1",
    ...extra,
  };
}

/** A new non-bare repo on branch main with one empty commit (so HEAD exists). */
export function gitRepo(opts: { empty?: boolean } = {}): string {
  const d = tempDir("boot-meta-repo-");
  git(d, "init", "-q", "-b", "main");
  git(d, "config", "user.name", "Test Author");
  git(d, "config", "user.email", "author@test.invalid");
  if (!opts.empty) git(d, "commit", "-q", "--allow-empty", "-m", "initial");
  return d;
}

/** A bare remote, and `n` clones of it (each with an identity), all on main. */
export function bareRemoteWithClones(n: number): { remote: string; clones: string[] } {
  const remote = tempDir("boot-meta-remote-");
  git(remote, "init", "-q", "--bare", "-b", "main");
  const seed = gitRepo();
  git(seed, "remote", "add", "origin", remote);
  git(seed, "push", "-q", "origin", "main");
  const clones: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = tempDir("boot-meta-clone-");
    git(c, "clone", "-q", remote, ".");
    git(c, "config", "user.name", `Writer ${i}`);
    git(c, "config", "user.email", `writer${i}@test.invalid`);
    clones.push(c);
  }
  return { remote, clones };
}
