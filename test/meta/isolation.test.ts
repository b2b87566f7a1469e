import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { runDemo, type DemoResult } from "../../src/demo/demo.js";
import { accessCheck, addKey, createEnv, createProject, removeKey, syncAccess } from "../../src/meta/repo.js";
import { encryptBytes, openBytes } from "../../src/sops/engine.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { identitySetFrom, parseIdentityFile } from "../../src/sops/identities.js";
import { git, tempDir } from "../helpers/gitdir.js";

let demo: DemoResult;
const idOf = (who: string) => parseIdentityFile(readFileSync(demo.identities[who] as string, "utf8"), who);
const load = (who: string, env: string) => loadConfig({ repo: demo.dir, project: "shop", env, identities: idOf(who), environment: {} });

beforeAll(async () => {
  demo = await runDemo(join(tempDir(), "meta"));
}, 120_000);

describe("isolation, with real keys for admin, alice, bob, a prod server and CI", () => {
  it("alice loads dev/alice and dev, merged defaults ← dev ← dev/alice, at one commit", async () => {
    const c = await load("alice", "dev/alice");
    expect(c.config).toMatchObject({ app: { name: "shop" }, log: { level: "debug" }, database: { url: "postgres://localhost/alice" }, flags: { new_checkout: true } });
    expect(c.flags).toEqual({ new_checkout: true });
    expect(c.commit).toBe(git(demo.dir, "rev-parse", "HEAD"));
    expect(c.layers.map((l) => [l.name, l.found])).toEqual([["defaults", true], ["env", true], ["developer", true]]);
    expect(c.origins["log.level"]).toBe("developer");
    expect(c.origins["app.name"]).toBe("defaults");
    expect((await load("alice", "dev")).config).toMatchObject({ database: { url: "postgres://dev-db/shop" } });
  });

  it("alice is refused prod and dev/bob, and the error names who can read them", async () => {
    await expect(load("alice", "prod")).rejects.toMatchObject({ code: "CONFIG_ACCESS_DENIED", message: expect.stringMatching(/shop\/envs\/prod\/config\.sops\.yaml: it is encrypted to admin, prod-server; your identity .* is alice/) });
    await expect(load("alice", "dev/bob")).rejects.toMatchObject({ code: "CONFIG_ACCESS_DENIED", message: expect.stringContaining("encrypted to admin, bob") });
  });

  it("the prod server loads prod and nothing of dev", async () => {
    expect((await load("prod-server", "prod")).config).toMatchObject({ database: { url: "postgres://prod-db/shop" }, payments: { api_key: "sk_demo_only_not_a_real_key" } });
    for (const env of ["dev", "dev/alice", "dev/bob"]) await expect(load("prod-server", env)).rejects.toMatchObject({ code: "CONFIG_ACCESS_DENIED" });
  });

  it("access check finds a file encrypted by hand to the wrong recipients", async () => {
    expect((await accessCheck(demo.dir)).drift).toEqual([]);
    const alice = (await identitySetFrom(idOf("alice"))).recipients;
    const path = "shop/envs/prod/config.sops.yaml";
    writeFileSync(join(demo.dir, path), await encryptBytes(Buffer.from("leak: yes\n"), { format: "yaml", keyGroups: [[...alice]] }));
    git(demo.dir, "commit", "-qam", "encrypt prod by hand to the wrong people");
    const r = await accessCheck(demo.dir);
    expect(r.drift).toHaveLength(1);
    expect(r.drift[0]).toMatchObject({ path, missing: ["admin", "prod-server"], extra: ["alice"] });
    git(demo.dir, "revert", "--no-edit", "HEAD");
    expect((await accessCheck(demo.dir)).drift).toEqual([]);
  });

  it("a governed file that is not a sops file is reported by access sync and access check, never skipped silently", async () => {
    const admin = await identitySetFrom(idOf("admin"));
    const path = "shop/envs/stage/config.sops.yaml";
    writeFileSync(join(demo.dir, path), "plaintext: oops\n");
    git(demo.dir, "commit", "-qam", "a plaintext file where an encrypted one belongs");
    const head = git(demo.dir, "rev-parse", "HEAD");
    const r = await syncAccess(demo.dir, { identities: admin });
    expect(r.value.refused).toEqual([expect.objectContaining({ path, code: "SOPS_NOT_ENCRYPTED" })]);
    expect(git(demo.dir, "rev-parse", "HEAD")).toBe(head);
    expect((await accessCheck(demo.dir)).drift).toEqual([expect.objectContaining({ path, problems: [expect.stringContaining("not a SOPS file")] })]);
    git(demo.dir, "revert", "--no-edit", "HEAD");
    expect((await accessCheck(demo.dir)).drift).toEqual([]);
  });

  it("after keys remove bob, bob's key opens none of the files the rotation rewrote", async () => {
    const admin = await identitySetFrom(idOf("admin"));
    const bob = await identitySetFrom(idOf("bob"));
    const before = git(demo.dir, "rev-parse", "HEAD");
    const r = await removeKey(demo.dir, "bob", { identities: admin, author: "Admin <admin@test.invalid>" });
    expect(r.value.rotated.sort()).toEqual(["shop/config.sops.yaml", "shop/envs/dev/bob/config.sops.yaml", "shop/envs/dev/config.sops.yaml"]);
    expect(git(demo.dir, "log", "-1", "--format=%s%n%b")).toMatch(/^keys: remove bob\nbob can no longer read anything written from now on: 3 file\(s\)/);
    for (const path of r.value.rotated) {
      const bytes = readFileSync(join(demo.dir, path));
      await expect(openBytes(bytes, { format: "yaml", identities: bob, path })).rejects.toMatchObject({ code: "SOPS_DATA_KEY_UNAVAILABLE" });
      // and the admin still reads it
      await openBytes(bytes, { format: "yaml", identities: admin, path });
      // The new wraps are age files the real age CLI opens with admin's key, and not with bob's.
      const entries = (parse(bytes.toString()).sops.age ?? []) as { recipient: string; enc: string }[];
      const mine = entries.filter((e) => admin.recipients.includes(e.recipient));
      expect(mine).toHaveLength(1);
      const byAdmin = spawnSync("age", ["-d", "-i", demo.identities.admin as string], { input: mine[0]!.enc });
      expect([byAdmin.status, byAdmin.stdout.length]).toEqual([0, 32]);
      for (const { enc } of entries) expect(spawnSync("age", ["-d", "-i", demo.identities.bob as string], { input: enc }).status).not.toBe(0);
    }
    // Re-running is safe: nothing left to do, no commit.
    await expect(removeKey(demo.dir, "bob", { identities: admin })).rejects.toMatchObject({ code: "META_NO_PRINCIPAL" });
    expect(git(demo.dir, "rev-list", "--count", `${before}..HEAD`)).toBe("1");
    expect((await accessCheck(demo.dir)).drift).toEqual([]);
  });

  it("keys add re-wraps what the new principal may read, in one commit, and is re-runnable", async () => {
    const admin = await identitySetFrom(idOf("admin"));
    const carol = await generateAgeKey();
    const r = await addKey(demo.dir, "carol", [carol.recipient], { group: "developers", identities: admin });
    expect(r.value.rewrapped.sort()).toEqual(["shop/config.sops.yaml", "shop/envs/dev/config.sops.yaml"]);
    expect(git(demo.dir, "log", "-1", "--format=%s")).toBe("keys: add carol to developers");
    const c = await loadConfig({ repo: demo.dir, project: "shop", env: "dev", identities: [carol.identity], environment: {} });
    expect(c.config).toMatchObject({ database: { url: "postgres://dev-db/shop" } });
    const again = await addKey(demo.dir, "carol", [carol.recipient], { group: "developers", identities: admin });
    expect(again.commit).toBeUndefined();
  });
});

describe("bad input gets a clear error and changes nothing", () => {
  it.each([["../../etc"], ["/abs"], ["a//b"], ["bad name"], ["a/../b"], ["envs"], ["keys"], ["binaries"], ["team/releases"], ["shop/channels/x"]])("refuses the project name %j", async (name) => {
    const head = git(demo.dir, "rev-parse", "HEAD");
    await expect(createProject(demo.dir, name)).rejects.toMatchObject({ code: "META_INVALID_NAME" });
    expect(git(demo.dir, "rev-parse", "HEAD")).toBe(head);
    expect(git(demo.dir, "status", "--porcelain")).toBe("");
  });

  it.each([["../prod"], ["dev/../../x"], ["/dev"], ["dev/al ice"]])("refuses the env name %j", async (env) => {
    await expect(createEnv(demo.dir, "shop", env)).rejects.toMatchObject({ code: "META_INVALID_NAME" });
    await expect(loadConfig({ repo: demo.dir, project: "shop", env, identities: idOf("admin"), environment: {} })).rejects.toMatchObject({ code: "META_INVALID_NAME" });
  });

  it("refuses a missing repo, an identity file that is not a key, and a private key given as a public one", async () => {
    await expect(loadConfig({ repo: join(tempDir(), "nope"), project: "shop", env: "dev", environment: {} })).rejects.toMatchObject({ code: "META_NOT_A_REPO" });
    const bad = join(tempDir(), "id.txt");
    writeFileSync(bad, "this is not a key\n");
    await expect(loadConfig({ repo: demo.dir, project: "shop", env: "dev", identityFile: bad, environment: {} })).rejects.toMatchObject({ code: "SOPS_INVALID_IDENTITY" });
    const head = git(demo.dir, "rev-parse", "HEAD");
    const k = await generateAgeKey();
    await expect(addKey(demo.dir, "mallory", [k.identity], { identities: await identitySetFrom(idOf("admin")) })).rejects.toMatchObject({ code: "META_PRIVATE_KEY_REFUSED" });
    expect(git(demo.dir, "rev-parse", "HEAD")).toBe(head);
    expect(git(demo.dir, "status", "--porcelain")).toBe("");
  });

  it("says when there is no config for a project and env", async () => {
    await expect(loadConfig({ repo: demo.dir, project: "shop", env: "qa", identities: idOf("admin"), environment: {} })).rejects.toMatchObject({ code: "CONFIG_NOT_FOUND" });
  });
});
