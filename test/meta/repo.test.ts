import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { setConfigValue } from "../../src/config/edit.js";
import { loadConfig } from "../../src/config/loader.js";
import { renderSopsYaml } from "../../src/meta/model.js";
import { addKey, createEnv, createProject, initRepo, readStateAt } from "../../src/meta/repo.js";
import { commitChanges } from "../../src/meta/commit.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { readRecipients } from "../../src/sops/engine.js";
import { encryptFile } from "../../src/sops/files.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { bareRemoteWithClones, git, gitEnv, gitRepo, tempDir } from "../helpers/gitdir.js";

let admin: Awaited<ReturnType<typeof generateAgeKey>>;
let dev: Awaited<ReturnType<typeof generateAgeKey>>;

async function freshRepo(dir = join(tempDir(), "meta")) {
  await initRepo(dir);
  const ids = await identitySetFrom([admin.identity]);
  await addKey(dir, "admin", [admin.recipient], { group: "admins", identities: ids });
  await addKey(dir, "dev1", [dev.recipient], { group: "developers", identities: ids });
  await createProject(dir, "main/maintemplatev2");
  for (const env of ["dev", "prod", "dev/dev1"]) await createEnv(dir, "main/maintemplatev2", env);
  return { dir, ids };
}

beforeAll(async () => {
  admin = await generateAgeKey();
  dev = await generateAgeKey();
});

describe("meta repository", () => {
  it("init writes the layout and commits it", async () => {
    const dir = join(tempDir(), "m");
    const r = await initRepo(dir);
    expect(r.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(git(dir, "ls-files").split("\n").sort()).toEqual([".boot-meta.yaml", ".sops.yaml", "README.md", "keys/README.md"]);
    expect(git(dir, "log", "-1", "--format=%s")).toBe("boot-meta: initialise the meta repository");
    await expect(initRepo(dir)).rejects.toMatchObject({ code: "META_ALREADY_INITIALISED" });
  });

  it("generates a .sops.yaml whose rules give every file the recipients the access rules say", async () => {
    const { dir } = await freshRepo();
    const state = await readStateAt(dir);
    expect(readFileSync(join(dir, ".sops.yaml"), "utf8")).toBe(renderSopsYaml(state));
    // A new file encrypted through the generated rules, the way the sops CLI would.
    for (const [path, want] of [
      ["main/maintemplatev2/envs/prod/secrets.sops.yaml", [admin.recipient]],
      ["main/maintemplatev2/envs/dev/extra.sops.yaml", [admin.recipient, dev.recipient]],
      ["main/maintemplatev2/envs/dev/dev1/x.sops.yaml", [admin.recipient, dev.recipient]],
      ["main/maintemplatev2/config.sops.yaml", [admin.recipient, dev.recipient]],
    ] as const) {
      const abs = join(dir, path);
      const before = (() => {
        try {
          return readFileSync(abs);
        } catch {
          return undefined;
        }
      })();
      writeFileSync(abs, "k: v\n");
      const bytes = await encryptFile(path, {}, { cwd: dir, env: {} });
      expect(readRecipients(bytes, "yaml").flat().sort(), path).toEqual([...want].sort());
      if (before) writeFileSync(abs, before);
      else rmSync(abs);
    }
  });

  it("config set changes one line of the file's diff, and loadConfig sees it at the new commit", async () => {
    const { dir, ids } = await freshRepo();
    await setConfigValue(dir, { project: "main/maintemplatev2", env: "prod" }, "db.url", "postgres://a", { identities: ids });
    await setConfigValue(dir, { project: "main/maintemplatev2", env: "prod" }, "db.pool", 10n, { identities: ids });
    const r = await setConfigValue(dir, { project: "main/maintemplatev2", env: "prod" }, "db.url", "postgres://b", { identities: ids });
    const diff = git(dir, "show", "--format=", "--unified=0", r.commit as string).split("\n").filter((l) => /^[-+] /.test(l));
    const changed = diff.filter((l) => !/lastmodified|mac:/.test(l));
    expect(changed).toHaveLength(2); // the url line, old and new
    expect(changed.every((l) => /url: ENC\[/.test(l))).toBe(true);
    const c = await loadConfig({ repo: dir, project: "main/maintemplatev2", env: "prod", identities: [admin.identity], environment: {} });
    expect(c.config).toEqual({ db: { url: "postgres://b", pool: 10 } });
    expect(c.commit).toBe(r.commit);
    const older = await loadConfig({ repo: dir, project: "main/maintemplatev2", env: "prod", identities: [admin.identity], at: "HEAD~1", environment: {} });
    expect(older.config).toEqual({ db: { url: "postgres://a", pool: 10 } });
  });
});

describe("commits and pushes", () => {
  it("refuses paths outside the repository", async () => {
    const { dir } = await freshRepo();
    const head = git(dir, "rev-parse", "HEAD");
    for (const p of ["../../etc/passwd", "/etc/passwd", ".git/config", "a/./b", ""]) {
      await expect(commitChanges(dir, { message: "x" }, async (tx) => tx.write(p, "x"))).rejects.toMatchObject({ code: "META_INVALID_PATH" });
    }
    expect(git(dir, "rev-parse", "HEAD")).toBe(head);
  });

  it("does not commit when nothing changed", async () => {
    const { dir } = await freshRepo();
    const r = await commitChanges(dir, { message: "noop" }, async (tx) => tx.write(".boot-meta.yaml", (await tx.read(".boot-meta.yaml")) as Uint8Array));
    expect(r.commit).toBeUndefined();
  });

  it("rebases on a rejected push and retries, never forcing; both writes survive", async () => {
    const { remote, clones } = bareRemoteWithClones(2);
    const [a, b] = clones as [string, string];
    await commitChanges(a, { message: "a1", push: true }, async (tx) => tx.write("a.txt", "a"));
    // b is behind now: its push is rejected, then rebuilt on top of a's commit.
    const r = await commitChanges(b, { message: "b1", push: true }, async (tx) => tx.write("b.txt", "b"));
    expect(r.pushed).toBe(true);
    expect(r.attempts).toBe(2);
    const log = git(remote, "log", "--format=%s", "main").split("\n");
    expect(log.slice(0, 2)).toEqual(["b1", "a1"]);
    expect(git(remote, "show", "main:a.txt")).toBe("a");
    expect(git(b, "status", "--porcelain")).toBe("");
    expect(readFileSync(join(b, "a.txt"), "utf8")).toBe("a");
  });

  it("re-runs the change on the new state, so a compare-and-swap sees the other writer", async () => {
    const { clones } = bareRemoteWithClones(2);
    const [a, b] = clones as [string, string];
    const cas = (expect_: string | undefined, next: string) => async (tx: { read(p: string): Promise<Uint8Array | undefined>; write(p: string, d: string): void }) => {
      const now = await tx.read("pointer");
      const cur = now ? Buffer.from(now).toString() : undefined;
      if (cur !== expect_) throw Object.assign(new Error(`pointer is ${cur}`), { code: "CAS" });
      tx.write("pointer", next);
    };
    await commitChanges(a, { message: "a", push: true }, cas(undefined, "A"));
    await expect(commitChanges(b, { message: "b", push: true }, cas(undefined, "B"))).rejects.toMatchObject({ code: "CAS", message: "pointer is A" });
  });

  it("finishes a branch move that a killed writer left half done, even when the one finishing it was killed too", async () => {
    const dir = gitRepo();
    await commitChanges(dir, { message: "one", author: "T <t@test.invalid>" }, async (tx) => tx.write("r/a.json", "a\n"));
    const from = git(dir, "rev-parse", "HEAD");
    // A writer got as far as moving the branch: the new commit is HEAD, index and work tree are not.
    const blob = execFileSync("git", ["hash-object", "-w", "--stdin"], { cwd: dir, input: "b\n", encoding: "utf8" }).trim();
    const idx = join(dir, ".git", "other-index");
    const env = { ...process.env, GIT_INDEX_FILE: idx };
    execFileSync("git", ["read-tree", from], { cwd: dir, env });
    execFileSync("git", ["update-index", "--add", "--cacheinfo", `100644,${blob},r/b.json`], { cwd: dir, env });
    const tree = execFileSync("git", ["write-tree"], { cwd: dir, env, encoding: "utf8" }).trim();
    const to = execFileSync("git", ["commit-tree", tree, "-p", from, "-m", "two"], { cwd: dir, env: gitEnv(), encoding: "utf8" }).trim();
    writeFileSync(join(dir, ".git", "boot-meta.moving"), `${from} ${to}\n`);
    git(dir, "update-ref", "refs/heads/main", to, from);
    // …and the writer that came next took the lock and was killed before it finished the move.
    writeFileSync(join(dir, ".git", "boot-meta.lock"), "999999\n");
    expect(git(dir, "status", "--porcelain")).toBe("D  r/b.json");
    await commitChanges(dir, { message: "three", author: "T <t@test.invalid>" }, async (tx) => tx.write("r/c.json", "c\n"));
    expect(git(dir, "status", "--porcelain")).toBe("");
    expect(readFileSync(join(dir, "r/b.json"), "utf8")).toBe("b\n");
    expect(git(dir, "log", "--format=%s", "-3")).toBe("three\ntwo\none");
    expect(existsSync(join(dir, ".git", "boot-meta.moving"))).toBe(false);
  });

  it("refuses to write a file the user has uncommitted edits to, before anything is pushed", async () => {
    const { remote, clones } = bareRemoteWithClones(1);
    const [a] = clones as [string];
    await commitChanges(a, { message: "seed", push: true }, async (tx) => tx.write("c/stable.json", "{}\n"));
    const head = git(a, "rev-parse", "HEAD");
    writeFileSync(join(a, "c/stable.json"), "{ \"mine\": true }\n");
    const write = () => commitChanges(a, { message: "promote", push: true }, async (tx) => tx.write("c/stable.json", '{ "release": "2" }\n'));
    await expect(write()).rejects.toMatchObject({ code: "META_DIRTY_WORKTREE", data: { files: ["c/stable.json"] } });
    expect(readFileSync(join(a, "c/stable.json"), "utf8")).toBe('{ "mine": true }\n');
    expect(git(a, "rev-parse", "HEAD")).toBe(head);
    expect(git(remote, "rev-parse", "main")).toBe(head);
    // An untracked file in the way, and a deleted one, are refused the same way.
    writeFileSync(join(a, "new.json"), "untracked\n");
    await expect(commitChanges(a, { message: "n", push: true }, async (tx) => tx.write("new.json", "ours\n"))).rejects.toMatchObject({ code: "META_DIRTY_WORKTREE" });
    git(a, "checkout", "--", "c/stable.json");
    rmSync(join(a, "c/stable.json"));
    await expect(write()).rejects.toMatchObject({ code: "META_DIRTY_WORKTREE" });
    // Edits elsewhere do not get in the way, and stay.
    git(a, "checkout", "--", "c/stable.json");
    await write();
    expect(readFileSync(join(a, "new.json"), "utf8")).toBe("untracked\n");
    expect(git(remote, "show", "main:c/stable.json")).toBe('{ "release": "2" }');
    expect(git(a, "status", "--porcelain")).toBe("?? new.json");
  });

  it("will not rebase local commits the remote does not have: META_DIVERGED, nothing changed", async () => {
    const { remote, clones } = bareRemoteWithClones(2);
    const [a, b] = clones as [string, string];
    writeFileSync(join(a, "local.txt"), "committed by hand, not pushed\n");
    git(a, "add", "local.txt");
    git(a, "commit", "-qm", "local work");
    const localHead = git(a, "rev-parse", "HEAD");
    await commitChanges(b, { message: "theirs", push: true }, async (tx) => tx.write("theirs.txt", "x"));
    const remoteHead = git(remote, "rev-parse", "main");
    await expect(commitChanges(a, { message: "ours", push: true }, async (tx) => tx.write("ours.txt", "y"))).rejects.toMatchObject({ code: "META_DIVERGED", message: expect.stringContaining("1 commit(s)") });
    expect(git(a, "rev-parse", "HEAD")).toBe(localHead);
    expect(git(remote, "rev-parse", "main")).toBe(remoteHead);
    expect(git(a, "status", "--porcelain")).toBe("");
  });

  it("says so when the remote's branch stays locked by a push that died there, and changes nothing", async () => {
    const { remote, clones } = bareRemoteWithClones(1);
    const [a] = clones as [string];
    const head = git(a, "rev-parse", "HEAD");
    writeFileSync(join(remote, "refs/heads/main.lock"), "");
    const e = await commitChanges(a, { message: "x", push: true, remoteLockStuckMs: 1500 }, async (tx) => tx.write("x.txt", "x")).catch((x) => x);
    expect(e).toMatchObject({ code: "META_REMOTE_LOCKED", message: expect.stringContaining("refs/heads/main.lock") });
    expect(git(a, "rev-parse", "HEAD")).toBe(head);
    expect(git(a, "status", "--porcelain")).toBe("");
    // Once the lock is gone, the same write goes through.
    rmSync(join(remote, "refs/heads/main.lock"));
    expect((await commitChanges(a, { message: "x", push: true }, async (tx) => tx.write("x.txt", "x"))).pushed).toBe(true);
  });

  it("keeps the local commit and says so when the remote is down", async () => {
    const { remote, clones } = bareRemoteWithClones(1);
    const [a] = clones as [string];
    rmSync(remote, { recursive: true, force: true });
    const e = await commitChanges(a, { message: "offline", push: true }, async (tx) => tx.write("x.txt", "x")).catch((x) => x);
    expect(e).toMatchObject({ code: "META_REMOTE_UNAVAILABLE", message: expect.stringContaining("committed locally as") });
    // git's own reason, not the last line of its advice.
    expect(e.message).toMatch(/failed: fatal: .*does not appear to be a git repository/);
    expect(git(a, "log", "-1", "--format=%s")).toBe("offline");
  });
});

describe("loading from a git URL", () => {
  it("clones into the cache once and fetches later commits", async () => {
    const { dir, ids } = await freshRepo();
    await setConfigValue(dir, { project: "main/maintemplatev2", env: "dev" }, "v", 1n, { identities: ids });
    const bare = join(tempDir(), "meta.git");
    git(tempDir(), "clone", "-q", "--bare", dir, bare);
    const cacheDir = tempDir();
    const url = `file://${bare}`;
    const c1 = await loadConfig({ repo: url, project: "main/maintemplatev2", env: "dev", identities: [dev.identity], cacheDir, environment: {} });
    expect(c1.config).toEqual({ v: 1 });
    await setConfigValue(dir, { project: "main/maintemplatev2", env: "dev" }, "v", 2n, { identities: ids });
    git(dir, "push", "-q", bare, "main");
    const c2 = await loadConfig({ repo: url, project: "main/maintemplatev2", env: "dev", identities: [dev.identity], cacheDir, environment: {} });
    expect(c2.config).toEqual({ v: 2 });
    expect(c2.commit).not.toBe(c1.commit);
    await expect(loadConfig({ repo: `file://${join(tempDir(), "missing.git")}`, project: "p", env: "dev", cacheDir, environment: {} })).rejects.toMatchObject({ code: "META_REMOTE_UNAVAILABLE" });
  });
});

