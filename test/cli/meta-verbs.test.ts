import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

const cli = cliWith();

describe("the meta repository through the CLI", () => {
  it("init, keys add, project and env create, config set/get/show/edit, access show/check, bootstrap", async () => {
    const root = tempDir();
    const meta = join(root, "meta");
    const admin = await ageKeyFile(root);
    const alice = await ageKeyFile(root);
    const ok = async (args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) => {
      const r = await cli(args, { env, cwd });
      expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
      return r;
    };
    await ok(["init", meta]);
    const asAdmin = { SOPS_AGE_KEY_FILE: admin.file };
    await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", "--meta", meta], asAdmin);
    await ok(["keys", "add", "alice", "--key", alice.recipient, "--group", "developers", "--meta", meta], asAdmin);
    await ok(["project", "create", "shop", "--meta", meta]);
    for (const env of ["dev", "prod", "dev/alice"]) await ok(["env", "create", "shop", env, "--meta", meta]);
    await ok(["config", "set", "db.port", "5432", "-p", "shop", "-e", "dev", "--meta", meta], asAdmin);
    await ok(["config", "set", "flags.beta", "true", "-p", "shop", "-e", "dev/alice", "--meta", meta], asAdmin);
    await ok(["config", "set", "name", "shop", "--defaults", "-p", "shop", "--meta", meta], asAdmin);
    await ok(["config", "set", "secret", "p4ss", "-p", "shop", "-e", "prod", "--meta", meta], asAdmin);
    const asAlice = { SOPS_AGE_KEY_FILE: alice.file };
    const show = JSON.parse(out(await ok(["config", "show", "--json", "-p", "shop", "-e", "dev/alice", "--meta", meta], asAlice)));
    expect(show.config).toEqual({ name: "shop", db: { port: 5432 }, flags: { beta: true } });
    expect(show.flags).toEqual({ beta: true });
    expect(show.commit).toBe(git(meta, "rev-parse", "HEAD"));
    expect(out(await ok(["config", "get", "db.port", "-p", "shop", "-e", "dev/alice", "--meta", meta], asAlice)).trim()).toBe("5432");
    const denied = await cli(["config", "show", "-p", "shop", "-e", "prod", "--meta", meta], { env: asAlice });
    expect(denied.exitCode).toBe(128);
    expect(err(denied)).toMatch(/CONFIG_ACCESS_DENIED.*encrypted to admin; your identity .* is alice/);
    // edit in $EDITOR, committed
    await ok(["config", "edit", "-p", "shop", "-e", "dev", "--meta", meta], { ...asAdmin, EDITOR: "sed -i s/5432/6543/" });
    expect(git(meta, "log", "-1", "--format=%s")).toBe("config: edit shop/envs/dev/config.sops.yaml");
    const matrix = out(await ok(["access", "show", "--meta", meta]));
    expect(matrix).toMatch(/shop\/envs\/prod\/config\.sops\.yaml\s+✓\s+·/);
    expect((await cli(["access", "check", "--meta", meta])).exitCode).toBe(0);
    // a developer's app checkout, pointed at the meta repo by the bootstrap file
    const app = join(root, "app");
    git(root, "init", "-q", app);
    await ok(["bootstrap", "--meta", meta, "--project", "shop", "--env", "dev/alice", "--identity", alice.file, "--dir", app]);
    const fromApp = JSON.parse(out(await ok(["config", "show", "--json"], {}, app)));
    expect(fromApp.config.db).toEqual({ port: 6543 });
    expect(git(app, "check-ignore", ".boot-meta.local.yaml")).toBe(".boot-meta.local.yaml");
    expect(git(meta, "status", "--porcelain")).toBe("");
  });

  it("access check exits non-zero and names the drift", async () => {
    const root = tempDir();
    const meta = join(root, "meta");
    const admin = await ageKeyFile(root);
    const other = await ageKeyFile(root);
    await cli(["init", meta]);
    await cli(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", "--meta", meta], { env: { SOPS_AGE_KEY_FILE: admin.file } });
    await cli(["project", "create", "shop", "--meta", meta]);
    await cli(["env", "create", "shop", "prod", "--meta", meta]);
    writeFileSync(join(root, "plain.yaml"), "k: v\n");
    const enc = await cli(["encrypt", "--age", other.recipient, join(root, "plain.yaml")]);
    writeFileSync(join(meta, "shop/envs/prod/config.sops.yaml"), enc.stdout as Uint8Array);
    git(meta, "commit", "-qam", "by hand");
    const r = await cli(["access", "check", "--json", "--meta", meta]);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(out(r)).error).toMatchObject({ code: "ACCESS_DRIFT", data: { drift: [{ path: "shop/envs/prod/config.sops.yaml", missing: ["admin"] }] } });
  });

  it("refuses bad names and private keys with clear errors", async () => {
    const meta = join(tempDir(), "meta");
    await cli(["init", meta]);
    const bad = await cli(["project", "create", "../../etc", "--meta", meta]);
    expect(bad.exitCode).toBe(2);
    expect(err(bad)).toMatch(/META_INVALID_NAME.*\.\. segment/);
    const priv = await cli(["keys", "add", "x", "--key", "AGE-SECRET-KEY-1QQQ", "--meta", meta]);
    expect(priv.exitCode).not.toBe(0);
    expect(err(priv)).toMatch(/META_PRIVATE_KEY_REFUSED/);
    expect(err(priv)).not.toContain("AGE-SECRET-KEY-1QQQ");
    expect(git(meta, "rev-list", "--count", "HEAD")).toBe("1");
  });

  it("runs the demo and reports the isolation as JSON", async () => {
    const dir = join(tempDir(), "demo");
    const r = await cli(["demo", dir, "--json"]);
    expect(r.exitCode, err(r)).toBe(0);
    const d = JSON.parse(out(r));
    expect(d.checks.map((c: { who: string; env: string; ok: boolean }) => `${c.who} ${c.env} ${c.ok}`)).toEqual([
      "alice dev/alice true",
      "alice dev true",
      "alice dev/bob false",
      "alice prod false",
      "prod-server prod true",
      "prod-server dev false",
      "ci stage true",
    ]);
    // The records side: from the demo build back to its release, channel and repos; the
    // storage URL only for prod readers.
    const p = d.provenance;
    expect(p.sha256).toBe(createHash("sha256").update(readFileSync(p.file)).digest("hex"));
    expect(p.release).toMatch(/^\d{8}T\d{6}Z-1\.1$/);
    expect(p.channels).toEqual(["stable"]);
    expect(p.repos).toEqual([expect.stringMatching(/^shop@[0-9a-f]{12}$/), expect.stringMatching(/^shared-lib@[0-9a-f]{12}$/)]);
    expect(p.urlAsProdServer).toEqual([expect.stringMatching(/^https:\/\/deploy:demo-token@/)]);
    expect(p.urlAsAlice).toBe("sealed");
    const fleet = JSON.parse(out(await cli(["instance", "list", "shop", "--json", "--meta", dir])));
    expect(Object.values(fleet.byRelease).flat()).toHaveLength(4);
    for (const l of fleet.lagging) expect(l).toMatchObject({ channel: "stable", wants: p.release });
    expect(git(dir, "ls-files")).not.toContain(".build");
    expect(git(dir, "status", "--porcelain")).toBe("");
  });
});
