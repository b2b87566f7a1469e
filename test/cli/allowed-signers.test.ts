import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, gitEnv, tempDir } from "../helpers/gitdir.js";

import { sshKey } from "../helpers/ssh.js";

const cli = cliWith();

/** A meta repo with admin (age + ssh keys), alice (ssh key) and bob (age key only). */
async function repo() {
  const root = tempDir();
  const meta = join(root, "meta");
  const admin = { age: await ageKeyFile(root), ssh: sshKey("admin") };
  const alice = sshKey("alice");
  const ok = async (args: string[]) => {
    const r = await cli([...args, "--meta", meta], { env: { SOPS_AGE_KEY_FILE: admin.age.file } });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    return r;
  };
  expect((await cli(["init", meta])).exitCode).toBe(0);
  await ok(["keys", "add", "admin", "--key", admin.age.recipient, "--key", admin.ssh.line, "--group", "admins"]);
  await ok(["keys", "add", "alice", "--key", alice.line, "--group", "developers"]);
  await ok(["keys", "add", "bob", "--key", (await ageKeyFile(root)).recipient, "--group", "developers"]);
  return { meta, admin, alice, ok };
}

/** Commits a change in `dir`, signed with `keyFile` by git's own SSH signing. */
function signedCommit(dir: string, keyFile: string, file: string): string {
  writeFileSync(join(dir, file), `${file}\n`);
  git(dir, "add", file);
  git(dir, "-c", "gpg.format=ssh", "-c", `user.signingkey=${keyFile}`, "commit", "-q", "-S", "-m", `add ${file}`);
  return git(dir, "rev-parse", "HEAD");
}

const verifyCommit = (dir: string, commit: string) => spawnSync("git", ["verify-commit", "-v", commit], { cwd: dir, env: gitEnv(), encoding: "utf8" });
const pub = (line: string) => line.split(" ").slice(0, 2).join(" ");

describe("keys allowed-signers", () => {
  it("prints one line per ssh-ed25519 key, named by principal, for git's namespace; writes nothing", async () => {
    const { meta, admin, alice, ok } = await repo();
    const before = git(meta, "rev-parse", "HEAD");
    const text = out(await ok(["keys", "allowed-signers"]));
    const lines = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(lines).toEqual([`admin namespaces="git" ${pub(admin.ssh.line)}`, `alice namespaces="git" ${pub(alice.line)}`]);
    expect(text).toContain(before);
    expect(git(meta, "status", "--porcelain")).toBe("");
    expect(spawnSync("git", ["config", "--local", "gpg.ssh.allowedSignersFile"], { cwd: meta, env: gitEnv() }).status).toBe(1);
    const j = JSON.parse(out(await ok(["keys", "allowed-signers", "--json"])));
    expect(j).toMatchObject({ commit: before, path: null, signers: [{ principal: "admin", key: pub(admin.ssh.line) }, { principal: "alice", key: pub(alice.line) }] });
    expect(j.text).toBe(text);
  });

  it("--write installs it under the git directory, so git verify-commit names the principal who signed", async () => {
    const { meta, admin, alice, ok } = await repo();
    const byAdmin = signedCommit(meta, admin.ssh.keyFile, "a.txt");
    const byAlice = signedCommit(meta, alice.keyFile, "b.txt");
    const stranger = sshKey("stranger");
    const byStranger = signedCommit(meta, stranger.keyFile, "c.txt");
    // Before: git has no allowed_signers and verifies nothing.
    expect(verifyCommit(meta, byAdmin).status).not.toBe(0);
    const r = JSON.parse(out(await ok(["keys", "allowed-signers", "--write", "--json"])));
    expect(r.path).toBe(join(git(meta, "rev-parse", "--path-format=absolute", "--git-common-dir"), "boot-meta", "allowed_signers"));
    expect(readFileSync(r.path, "utf8")).toBe(r.text);
    expect(git(meta, "config", "--local", "gpg.ssh.allowedSignersFile")).toBe(r.path);
    expect(git(meta, "status", "--porcelain")).toBe("");
    const good = verifyCommit(meta, byAdmin);
    expect(good.status, good.stderr).toBe(0);
    expect(good.stderr).toMatch(/Good "git" signature for admin with ED25519 key SHA256:/);
    expect(verifyCommit(meta, byAlice).stderr).toMatch(/Good "git" signature for alice /);
    const bad = verifyCommit(meta, byStranger);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/No principal matched/);
    expect(git(meta, "log", "--show-signature", "-1", "--format=%H", byAlice)).toMatch(/Good "git" signature for alice/);
  });

  it("--write from a linked worktree puts the file in the shared git directory", async () => {
    const { meta } = await repo();
    const wt = join(tempDir(), "wt");
    git(meta, "worktree", "add", "-q", "--detach", wt);
    const r = await cli(["keys", "allowed-signers", "--write", "--json", "--meta", wt]);
    expect(r.exitCode, err(r)).toBe(0);
    const path = JSON.parse(out(r)).path as string;
    expect(path).toBe(join(git(meta, "rev-parse", "--path-format=absolute", "--git-common-dir"), "boot-meta", "allowed_signers"));
    expect(existsSync(path)).toBe(true);
    expect(git(wt, "config", "gpg.ssh.allowedSignersFile")).toBe(path);
  });

  it("refuses a repository that is not a meta repo, writing nothing", async () => {
    const dir = join(tempDir(), "plain");
    git(tempDir(), "init", "-q", dir);
    writeFileSync(join(dir, "x"), "x\n");
    git(dir, "add", "x");
    git(dir, "commit", "-q", "-m", "x");
    const r = await cli(["keys", "allowed-signers", "--write", "--json", "--meta", dir]);
    expect(r.exitCode).not.toBe(0);
    expect(JSON.parse(out(r)).error).toMatchObject({ code: "META_NOT_INITIALISED" });
    expect(existsSync(join(dir, ".git", "boot-meta"))).toBe(false);
    expect(spawnSync("git", ["config", "--local", "gpg.ssh.allowedSignersFile"], { cwd: dir, env: gitEnv() }).status).toBe(1);
  });
});
