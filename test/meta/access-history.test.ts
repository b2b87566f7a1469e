import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { accessHistory } from "../../src/meta/access-history.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

/** The ciphertext of every value (`ENC[…]`) in a file: a new data key changes each one. */
const ciphertexts = (text: string) => [...text.matchAll(/ENC\[AES256_GCM,data:([^,]+),/g)].map((m) => m[1]);

describe("access history: what a key could read, and what losing it requires", () => {
  const cli = cliWith();
  let meta: string;
  let admin: NodeJS.ProcessEnv;
  let aliceKey: Awaited<ReturnType<typeof ageKeyFile>>;
  let adminKey: Awaited<ReturnType<typeof ageKeyFile>>;
  const commits = { aliceAdded: "", apiKey: "", notes: "", old: "", dropped: "" };

  const ok = async (args: string[], env: NodeJS.ProcessEnv = admin) => {
    const r = await cli([...args, "--meta", meta], { env });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}${out(r)}`).toBe(0);
    return r;
  };
  const head = () => git(meta, "rev-parse", "HEAD");
  const history = async (...args: string[]) => {
    const r = await cli(["access", "history", ...args, "--meta", meta, "--json"], { env: admin });
    expect(r.exitCode, err(r) + out(r)).toBe(0);
    return JSON.parse(out(r));
  };

  /** A sops file encrypted to `recipients`, committed at `path` around boot-meta (as anyone with git can). */
  const commitEncrypted = async (path: string, plain: string, recipients: string[]) => {
    const src = join(tempDir(), "plain.yaml");
    writeFileSync(src, plain);
    mkdirSync(join(meta, path, ".."), { recursive: true });
    const r = await cli(["encrypt", "--age", recipients.join(","), "--output", join(meta, path), src], { env: admin, cwd: meta });
    expect(r.exitCode, err(r)).toBe(0);
    git(meta, "add", path);
    git(meta, "commit", "-q", "-m", `add ${path}`);
    return head();
  };

  beforeAll(async () => {
    meta = join(tempDir(), "meta");
    adminKey = await ageKeyFile();
    aliceKey = await ageKeyFile();
    admin = { SOPS_AGE_KEY_FILE: adminKey.file };
    expect((await cli(["init", meta])).exitCode).toBe(0);
    await ok(["keys", "add", "admin", "--key", adminKey.recipient, "--group", "admins"]);
    await ok(["project", "create", "shop"]);
    for (const e of ["dev", "prod"]) await ok(["env", "create", "shop", e]);
    await ok(["config", "set", "database.password", "prod-only-secret", "-p", "shop", "-e", "prod"]);
    await ok(["keys", "add", "alice", "--key", aliceKey.recipient, "--group", "developers"]);
    commits.aliceAdded = head();
    await ok(["config", "set", "api.key", "dev-api-key-1", "-p", "shop", "-e", "dev"]);
    commits.apiKey = head();
    await ok(["config", "set", "debug", "true", "-p", "shop", "-e", "dev"]);
    commits.notes = await commitEncrypted("notes/alice.sops.yaml", "wifi: hunter22\n", [adminKey.recipient, aliceKey.recipient]);
    commits.old = await commitEncrypted("shop/envs/dev/old.sops.yaml", "legacy_token: abc\n", [adminKey.recipient, aliceKey.recipient]);
    git(meta, "rm", "-q", "shop/envs/dev/old.sops.yaml");
    git(meta, "commit", "-q", "-m", "drop old");
    commits.dropped = head();
  }, 180_000);

  it("lists each file and value a key opened, with first and last commit, and whether the rules or only the file gave it", async () => {
    const h = await history("alice");
    expect(h).toMatchObject({ principal: "alice", head: head(), since: null, recipients: [aliceKey.recipient] });
    expect(h.commits).toBe(Number(git(meta, "rev-list", "--count", "HEAD")));
    expect(h.files.map((f: { path: string }) => f.path)).toEqual(["notes/alice.sops.yaml", "shop/envs/dev/config.sops.yaml", "shop/envs/dev/old.sops.yaml"]);
    const dev = h.files.find((f: { path: string }) => f.path === "shop/envs/dev/config.sops.yaml");
    expect(dev).toMatchObject({ first: { commit: commits.aliceAdded }, last: { commit: head() }, exists: true, readableNow: true, byRules: true });
    expect(dev.values.map((v: { key: string }) => v.key)).toEqual(["api.key", "debug"]);
    expect(dev.values[0].first.commit).toBe(commits.apiKey);
    const notes = h.files.find((f: { path: string }) => f.path === "notes/alice.sops.yaml");
    expect(notes).toMatchObject({ first: { commit: commits.notes }, byRules: false, readableNow: true, values: [{ key: "wifi" }] });
    const old = h.files.find((f: { path: string }) => f.path === "shop/envs/dev/old.sops.yaml");
    expect(old).toMatchObject({ first: { commit: commits.old }, last: { commit: commits.old }, exists: false, readableNow: false, commits: 1 });
    // prod was never encrypted to alice
    expect(JSON.stringify(h)).not.toContain("envs/prod");
    // dates are the commits' own
    expect(dev.first.date).toBe(new Date(Number(git(meta, "show", "-s", "--format=%ct", commits.aliceAdded)) * 1000).toISOString());
    // names and paths only: no value
    expect(JSON.stringify(h)).not.toMatch(/dev-api-key-1|hunter22|prod-only-secret/);
  });

  it("for people: a line per file and its values", async () => {
    const r = await cli(["access", "history", "alice", "--meta", meta], { env: admin });
    expect(r.exitCode, err(r)).toBe(0);
    expect(out(r)).toContain(`alice's key(s) could read 3 file(s) in the ${git(meta, "rev-list", "--count", "HEAD")} commit(s) walked:\n`);
    expect(out(r)).toContain(`  shop/envs/dev/old.sops.yaml  ${commits.old.slice(0, 12)} (`);
    expect(out(r)).toContain("deleted, given by the rules\n    legacy_token\n");
    expect(out(r)).toContain("  notes/alice.sops.yaml  ");
    expect(out(r)).toContain("readable now, the file's keys only\n    wifi\n");
  });

  it("--since limits the walk; a date that does not parse is refused", async () => {
    const none = await history("alice", "--since", "2999-01-01");
    expect(none).toMatchObject({ commits: 0, files: [], since: "2999-01-01T00:00:00.000Z" });
    const bad = await cli(["access", "history", "alice", "--since", "last blue moon", "--meta", meta, "--json"], { env: admin });
    expect(bad.exitCode).toBe(2);
    expect(JSON.parse(out(bad)).error).toMatchObject({ code: "INVALID_ARGUMENT", message: '--since "last blue moon" is not a date' });
  });

  it("refuses a principal that never had a key", async () => {
    const r = await cli(["access", "history", "mallory", "--meta", meta, "--json"], { env: admin });
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(out(r)).error.code).toBe("META_NO_PRINCIPAL");
    await expect(accessHistory(meta, "../x")).rejects.toMatchObject({ code: "META_INVALID_NAME" });
  });

  it("walks every commit to head, empty ones too, reporting its progress", async () => {
    for (let i = 0; i < 30; i++) git(meta, "commit", "-q", "--allow-empty", "-m", `noise ${i}`);
    const seen: number[] = [];
    const h = await accessHistory(meta, "alice", { onProgress: (done) => seen.push(done) });
    expect(h.files.find((f) => f.path === "shop/envs/dev/config.sops.yaml")?.last.commit).toBe(head());
    expect(seen.at(-1)).toBe(h.commits);
  });

  it("--plan names the key to remove, the files to rotate and the values to change by hand, and changes nothing", async () => {
    const before = head();
    const j = await history("alice", "--plan");
    expect(j.plan).toEqual({
      principal: "alice",
      head: before,
      removeKey: true,
      rotate: ["notes/alice.sops.yaml", "shop/envs/dev/config.sops.yaml"],
      changeByHand: [
        { path: "notes/alice.sops.yaml", exists: true, keys: ["wifi"] },
        { path: "shop/envs/dev/config.sops.yaml", exists: true, keys: ["api.key", "debug"] },
        { path: "shop/envs/dev/old.sops.yaml", exists: false, keys: ["legacy_token"] },
      ],
      note: expect.stringContaining("git history keeps every old version of these files"),
    });
    const r = await cli(["access", "history", "alice", "--plan", "--meta", meta], { env: admin });
    expect(out(r)).toContain("  1. boot-meta keys remove alice");
    expect(out(r)).toContain("       shop/envs/dev/old.sops.yaml (deleted since): legacy_token\n");
    expect(head()).toBe(before);
    const both = await cli(["access", "history", "alice", "--plan", "--apply", "--meta", meta], { env: admin });
    expect(both.exitCode).toBe(2);
    expect(head()).toBe(before);
  });

  it("--apply removes the key and gives every file it could read a new data key; the values to change are still listed", async () => {
    const before = Object.fromEntries(["notes/alice.sops.yaml", "shop/envs/dev/config.sops.yaml"].map((p) => [p, readFileSync(join(meta, p), "utf8")]));
    const r = await cli(["access", "history", "alice", "--apply", "--meta", meta, "--json"], { env: admin });
    expect(r.exitCode, err(r) + out(r)).toBe(0);
    const j = JSON.parse(out(r));
    expect(j.applied.removed.rotated).toEqual(["shop/envs/dev/config.sops.yaml"]);
    expect(j.applied.rotated).toEqual(["notes/alice.sops.yaml"]);
    expect(j.applied.refused).toEqual([]);
    expect(j.applied.changeByHand.map((f: { path: string }) => f.path)).toContain("shop/envs/dev/old.sops.yaml");
    expect(git(meta, "status", "--porcelain")).toBe("");
    expect(git(meta, "log", "-2", "--format=%s").split("\n")).toEqual(["access: rotate what a lost key of alice could read", "keys: remove alice"]);
    for (const [p, text] of Object.entries(before)) {
      const now = readFileSync(join(meta, p), "utf8");
      expect(now, p).not.toContain(aliceKey.recipient);
      // a new data key: no value keeps its ciphertext
      const old = new Set(ciphertexts(text));
      expect(ciphertexts(now).filter((c) => old.has(c)), p).toEqual([]);
      const opened = await cli(["decrypt", join(meta, p)], { env: { SOPS_AGE_KEY_FILE: aliceKey.file } });
      expect(opened.exitCode, p).toBe(128);
      expect((await cli(["decrypt", join(meta, p)], { env: admin })).exitCode, p).toBe(0);
    }
    expect(readFileSync(join(meta, "keys/admin.txt"), "utf8")).toContain(adminKey.recipient);
    // The history still answers, from the past: nothing is readable now.
    const h = await history("alice");
    expect(h.files.every((f: { readableNow: boolean }) => !f.readableNow)).toBe(true);
    // For people: what a human must still do.
    const again = await cli(["access", "history", "alice", "--plan", "--meta", meta], { env: admin });
    expect(out(again)).toContain("(alice has no key in keys/ and is in no group: nothing to remove)");
  });
});
