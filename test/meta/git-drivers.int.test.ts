import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { setConfigValue } from "../../src/config/edit.js";
import { TEST_ONLY_KEY_MARKER } from "../../src/meta/layout.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { openBytes } from "../../src/sops/engine.js";
import { yamlStore } from "../../src/sops/formats/yaml.js";
import { type IdentitySet, identitySetFrom } from "../../src/sops/identities.js";
import { conflictValue } from "../../src/meta/git-drivers.js";
import { Branch } from "../../src/sops/tree.js";
import { BIN, out, spawnCliWith } from "../helpers/cli.js";
import { driversRepo } from "../helpers/drivers.js";
import { gitEnv, tempDir } from "../helpers/gitdir.js";

/**
 * The drivers as git runs them: `boot-meta git setup` (the built CLI) in a real meta repo, then
 * real `git merge`, `git rebase`, `git diff`, `git log -p`, `git show` and `git commit` (its
 * pre-commit hook), each with the identity of the person running it in SOPS_AGE_KEY_FILE.
 */

type Key = Awaited<ReturnType<typeof generateAgeKey>> & { file: string };
let admin: Key;
let alice: Key;
let server: Key;
let adminIds: IdentitySet;
let home: string;
const PROD = "shop/envs/prod/config.sops.yaml";

async function key(dir: string, name: string): Promise<Key> {
  const k = await generateAgeKey();
  const file = join(dir, `${name}.txt`);
  writeFileSync(file, `${k.identity}\n`, { mode: 0o600 });
  return { ...k, file };
}

/** git as `who` runs it: their identity, a private HOME, the test's git identity. */
function gitAs(who: Key, dir: string, ...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync("git", args, { cwd: dir, env: gitEnv({ HOME: home, XDG_CONFIG_HOME: join(home, ".config"), SOPS_AGE_KEY_FILE: who.file }), encoding: "utf8" });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

function ok(who: Key, dir: string, ...args: string[]): string {
  const r = gitAs(who, dir, ...args);
  if (r.status !== 0) throw new Error(`git ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

async function set(dir: string, k: string, v: string | bigint): Promise<void> {
  await setConfigValue(dir, { project: "shop", env: "prod" }, k, v, { identities: adminIds });
}

/** A meta repo set up with `boot-meta git setup`, its .gitattributes committed through the hook. */
async function setUpRepo(): Promise<string> {
  const dir = await driversRepo({ admin, alice, server, adminIds });
  const r = await spawnCliWith({ HOME: home })(["git", "setup", "--json"], { cwd: dir });
  expect(r.exitCode).toBe(0);
  expect(JSON.parse(out(r))).toMatchObject({ changed: true, hook: { chained: null } });
  ok(admin, dir, "add", ".gitattributes");
  ok(admin, dir, "commit", "-q", "-m", "git drivers");
  return dir;
}

async function decrypted(dir: string): Promise<Branch> {
  const f = await openBytes(readFileSync(join(dir, PROD)), { format: "yaml", identities: adminIds, path: PROD });
  return f.tree[0] as Branch;
}

const line = (text: string, k: string) => text.split("\n").find((l) => l.trimStart().startsWith(`${k}:`));

beforeAll(async () => {
  home = tempDir("home-");
  [admin, alice, server] = await Promise.all([key(home, "admin"), key(home, "alice"), key(home, "server")]);
  adminIds = await identitySetFrom([admin.identity]);
});

describe("git merge and rebase of encrypted files", () => {
  it("merges two branches that changed different keys of one file: both changes, untouched ciphertext kept", async () => {
    const dir = await setUpRepo();
    ok(admin, dir, "checkout", "-q", "-b", "feature");
    await set(dir, "db.url", "postgres://feature");
    ok(admin, dir, "checkout", "-q", "main");
    await set(dir, "api.token", "main-token");
    const before = readFileSync(join(dir, PROD), "utf8");
    ok(admin, dir, "merge", "-q", "--no-edit", "feature");
    const merged = readFileSync(join(dir, PROD), "utf8");
    const root = await decrypted(dir);
    expect((root.get("db") as Branch).get("url")).toBe("postgres://feature");
    expect((root.get("api") as Branch).get("token")).toBe("main-token");
    expect(line(merged, "pool")).toBe(line(before, "pool"));
    expect(line(merged, "token")).toBe(line(before, "token"));
    expect(ok(admin, dir, "status", "--porcelain")).toBe("");
  });

  it("rebases a branch over a change to another key of the same file", async () => {
    const dir = await setUpRepo();
    ok(admin, dir, "checkout", "-q", "-b", "feature");
    await set(dir, "db.url", "postgres://feature");
    ok(admin, dir, "checkout", "-q", "main");
    await set(dir, "db.pool", 9n);
    ok(admin, dir, "checkout", "-q", "feature");
    ok(admin, dir, "rebase", "-q", "main");
    const root = await decrypted(dir);
    expect((root.get("db") as Branch).get("url")).toBe("postgres://feature");
    expect((root.get("db") as Branch).get("pool")).toBe(9n);
  });

  it("puts a key both branches changed in conflict inside the value: git reports a conflict, the file stays encrypted", async () => {
    const dir = await setUpRepo();
    ok(admin, dir, "checkout", "-q", "-b", "feature");
    await set(dir, "db.url", "postgres://feature");
    ok(admin, dir, "checkout", "-q", "main");
    await set(dir, "db.url", "postgres://main");
    const r = gitAs(admin, dir, "merge", "--no-edit", "feature");
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`CONFLICT (content): Merge conflict in ${PROD}`);
    const text = readFileSync(join(dir, PROD), "utf8");
    expect(text).not.toMatch(/postgres|<<<<<<<|s3cret/);
    expect(((await decrypted(dir)).get("db") as Branch).get("url")).toBe(conflictValue("postgres://main", "postgres://feature"));
  });

  it("gives a user who cannot decrypt a normal conflict, and no plaintext in their work tree", async () => {
    const dir = await setUpRepo();
    ok(admin, dir, "checkout", "-q", "-b", "feature");
    await set(dir, "db.url", "postgres://feature");
    ok(admin, dir, "checkout", "-q", "main");
    await set(dir, "api.token", "main-token");
    const r = gitAs(alice, dir, "merge", "--no-edit", "feature");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("merged by git's line merge (no identity of yours opens it)");
    const text = readFileSync(join(dir, PROD), "utf8");
    expect(text).toContain("<<<<<<< ours");
    expect(text).not.toMatch(/postgres|main-token|s3cret/);
    expect(ok(alice, dir, "ls-files", "-u")).toContain(PROD);
  });
});

describe("git diff, log -p and show of encrypted files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await setUpRepo();
    // Values enough that a change at the end of the file is a hunk far from its first line.
    for (const k of ["f1", "f2", "f3", "f4", "f5", "f6"]) await set(dir, `fill.${k}`, k);
    await set(dir, "z.last", "one");
    await set(dir, "db.url", "postgres://b"); // HEAD~1: near the top
    await set(dir, "z.last", "two"); // HEAD: at the end
  });

  it("shows a reader the decrypted change", () => {
    for (const args of [["diff", "HEAD~2", "HEAD~1", "--", PROD], ["log", "-p", "-1", "--format=", "HEAD~1", "--", PROD], ["show", "--format=", "HEAD~1", "--", PROD]]) {
      const text = ok(admin, dir, ...args);
      expect(text, args[0]).toMatch(/^-\s+url: postgres:\/\/a$/m);
      expect(text, args[0]).toMatch(/^\+\s+url: postgres:\/\/b$/m);
      expect(text, args[0]).not.toMatch(/ENC\[|lastmodified|mac:/);
    }
    expect(ok(admin, dir, "show", "--format=", "HEAD", "--", PROD)).toMatch(/^-\s+last: one\n\+\s+last: two$/m);
  });

  it("shows anyone else one line of whom it is encrypted to, and which values changed but not what", () => {
    const notice = "# encrypted to admin, prod-server; you are alice (no key opens it)";
    for (const args of [["diff", "HEAD~2", "HEAD~1", "--", PROD], ["log", "-p", "-1", "--format=", "HEAD~1", "--", PROD], ["show", "--format=", "HEAD~1", "--", PROD]]) {
      const text = ok(alice, dir, ...args);
      expect(text.split("\n"), args[0]).toContain(` ${notice}`); // the first line, in the hunk's context
      expect(text, args[0]).toMatch(/^-\s+url: <encrypted [0-9a-f]{8}>$/m);
      expect(text, args[0]).toMatch(/^\+\s+url: <encrypted [0-9a-f]{8}>$/m);
      expect(text, args[0]).not.toMatch(/postgres|s3cret|ENC\[/);
    }
    // A hunk far from the first line names it in its header (diff.boot-meta.xfuncname).
    const deep = ok(alice, dir, "show", "--format=", "HEAD", "--", PROD);
    expect(deep).toMatch(new RegExp(`^@@ -\\d+,\\d+ \\+\\d+,\\d+ @@ ${notice.replace(/[()]/g, "\\$&")}$`, "m"));
    expect(deep).toMatch(/^-\s+last: <encrypted [0-9a-f]{8}>$/m);
    expect(deep).not.toMatch(/last: (one|two)/);
  });

  it("never caches the decrypted text in git notes", () => {
    expect(ok(admin, dir, "for-each-ref", "refs/notes/")).toBe("");
  });
});

describe("the pre-commit hook", () => {
  it("refuses a commit carrying an age private key and lets one with the test-only marker through", async () => {
    const dir = await setUpRepo();
    const head = ok(admin, dir, "rev-parse", "HEAD");
    writeFileSync(join(dir, "backup.txt"), `${admin.identity}\n`);
    ok(admin, dir, "add", "backup.txt");
    const r = gitAs(admin, dir, "commit", "-q", "-m", "oops");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("backup.txt holds an age private key (AGE-SECRET-KEY-1…)");
    expect(r.stderr).not.toContain(admin.identity);
    expect(ok(admin, dir, "rev-parse", "HEAD")).toBe(head);
    ok(admin, dir, "rm", "-q", "--cached", "backup.txt");
    writeFileSync(join(dir, "fixture.txt"), `${TEST_ONLY_KEY_MARKER} — protects nothing\n${admin.identity}\n`);
    ok(admin, dir, "add", "fixture.txt");
    ok(admin, dir, "commit", "-q", "-m", "a test fixture");
    expect(ok(admin, dir, "rev-parse", "HEAD")).not.toBe(head);
  });

  it("refuses a plaintext file in an env folder", async () => {
    const dir = await setUpRepo();
    writeFileSync(join(dir, "shop/envs/prod/extra.yaml"), "password: hunter2\n");
    ok(admin, dir, "add", "shop/envs/prod/extra.yaml");
    const r = gitAs(admin, dir, "commit", "-q", "-m", "plaintext");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("shop/envs/prod/extra.yaml is governed by the access rules");
    expect(r.stderr).not.toContain("hunter2");
  });
});

describe("the drivers start without oclif (bin/run.js's fast path)", () => {
  it("prints what the oclif command prints, for a reader, a non-reader and a file that is not SOPS", async () => {
    const dir = await setUpRepo();
    const plainFile = join(dir, "shop/envs/prod/notes.txt");
    writeFileSync(plainFile, "not sops\n");
    for (const who of [admin, alice]) {
      for (const file of [join(dir, PROD), plainFile]) {
        const run = (extra: NodeJS.ProcessEnv) =>
          spawnSync(process.execPath, [BIN, "git", "textconv", file], { cwd: dir, env: gitEnv({ HOME: home, SOPS_AGE_KEY_FILE: who.file, ...extra }), encoding: "utf8" });
        const [fast, oclif] = [run({}), run({ BOOT_META_NO_FAST_PATH: "1" })];
        expect(fast.status).toBe(0);
        expect(fast.stdout).toBe(oclif.stdout);
        expect(fast.stderr).toBe(oclif.stderr);
      }
    }
  });

  it("never fails: an identity file that is not there, or a file git cannot hand back, exits 0 with no stack trace", async () => {
    const dir = await setUpRepo();
    for (const [file, keyFile] of [[join(dir, PROD), join(home, "missing-key.txt")], [join(dir, "no-such-file.yaml"), admin.file]] as const) {
      const r = spawnSync(process.execPath, [BIN, "git", "textconv", file], { cwd: dir, env: gitEnv({ HOME: home, SOPS_AGE_KEY_FILE: keyFile }), encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("");
      if (file.endsWith(PROD)) expect(r.stdout.split("\n")[0]).toBe("# encrypted to admin, prod-server; you have no age identity (no key opens it)");
      else expect(r.stdout).toBe("");
    }
  });
});
