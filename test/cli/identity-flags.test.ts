import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// --identity replaces every other identity source (so an admin can ask "what can alice see");
// --add-identity adds to them. Played through the CLI with the admin's key in each sops source.
describe("--identity and --add-identity", () => {
  const root = tempDir();
  const meta = join(root, "meta");
  let admin: Awaited<ReturnType<typeof ageKeyFile>>;
  let alice: Awaited<ReturnType<typeof ageKeyFile>>;
  const cli = cliWith();

  beforeAll(async () => {
    admin = await ageKeyFile(root);
    alice = await ageKeyFile(root);
    const asAdmin = { SOPS_AGE_KEY_FILE: admin.file };
    const ok = async (args: string[]) => {
      const r = await cli([...args, "--meta", meta], { env: asAdmin });
      expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    };
    expect((await cli(["init", meta])).exitCode).toBe(0);
    await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins"]);
    await ok(["keys", "add", "alice", "--key", alice.recipient, "--group", "developers"]);
    await ok(["project", "create", "shop"]);
    for (const env of ["dev", "prod"]) await ok(["env", "create", "shop", env]);
    await ok(["config", "set", "db.url", "postgres://dev-db", "-p", "shop", "-e", "dev"]);
    await ok(["config", "set", "db.url", "postgres://prod-db", "-p", "shop", "-e", "prod"]);
  });

  const show = (env: string, flags: string[], environment: NodeJS.ProcessEnv) => cli(["config", "show", "--json", "-p", "shop", "-e", env, "--meta", meta, ...flags], { env: environment });

  it("admin's key in SOPS_AGE_KEY_FILE reads prod; with --identity alice.txt it cannot", async () => {
    const asAdmin = { SOPS_AGE_KEY_FILE: admin.file };
    const mine = await show("prod", [], asAdmin);
    expect(mine.exitCode, err(mine)).toBe(0);
    expect(JSON.parse(out(mine)).config.db.url).toBe("postgres://prod-db");

    const asAlice = await show("prod", ["--identity", alice.file], asAdmin);
    expect(asAlice.exitCode).toBe(128);
    const e = JSON.parse(out(asAlice)).error;
    expect(e.code).toBe("CONFIG_ACCESS_DENIED");
    expect(e.message).toContain(`your identity (${alice.file}) is alice`);
    expect(e.data.you).toEqual(["alice"]);
    // …and what alice may read, she reads.
    const dev = await show("dev", ["--identity", alice.file], asAdmin);
    expect(dev.exitCode, err(dev)).toBe(0);
    expect(JSON.parse(out(dev)).config.db.url).toBe("postgres://dev-db");
    // The flag repeats rather than swallowing the argument after it.
    const get = await cli(["config", "get", "--identity", alice.file, "db.url", "-p", "shop", "-e", "dev", "--meta", meta], { env: asAdmin });
    expect(get.exitCode, err(get)).toBe(0);
    expect(out(get)).toBe("postgres://dev-db\n");
  });

  it("--identity also replaces SOPS_AGE_KEY, SOPS_AGE_KEY_CMD and the default keys.txt", async () => {
    const home = tempDir("boot-meta-home-");
    mkdirSync(join(home, ".config/sops/age"), { recursive: true });
    writeFileSync(join(home, ".config/sops/age/keys.txt"), readFileSync(admin.file), { mode: 0o600 });
    const everywhere = { HOME: home, XDG_CONFIG_HOME: join(home, ".config"), SOPS_AGE_KEY: admin.identity, SOPS_AGE_KEY_CMD: `cat ${admin.file}` };
    expect((await show("prod", [], everywhere)).exitCode).toBe(0);
    const r = await show("prod", ["--identity", alice.file], everywhere);
    expect(r.exitCode).toBe(128);
    expect(JSON.parse(out(r)).error).toMatchObject({ code: "CONFIG_ACCESS_DENIED", data: { you: ["alice"] } });
    // The bootstrap file's identity is another source --identity replaces.
    const app = join(root, "app");
    mkdirSync(app);
    expect((await cli(["bootstrap", "--meta", meta, "--project", "shop", "--env", "prod", "--identity", admin.file, "--dir", app])).exitCode).toBe(0);
    expect((await cli(["config", "show", "--json"], { cwd: app })).exitCode).toBe(0);
    const fromApp = await cli(["config", "show", "--json", "--identity", alice.file], { cwd: app });
    expect(JSON.parse(out(fromApp)).error).toMatchObject({ code: "CONFIG_ACCESS_DENIED", data: { you: ["alice"] } });
  });

  it("--add-identity adds to the identities found, and to --identity", async () => {
    const onlyAlice = { SOPS_AGE_KEY_FILE: alice.file };
    expect((await show("prod", [], onlyAlice)).exitCode).toBe(128);
    const both = await show("prod", ["--add-identity", admin.file], onlyAlice);
    expect(both.exitCode, err(both)).toBe(0);
    expect(JSON.parse(out(both)).config.db.url).toBe("postgres://prod-db");
    const explicit = await show("prod", ["--identity", alice.file, "--add-identity", admin.file], {});
    expect(explicit.exitCode, err(explicit)).toBe(0);
  });

  it("a write with --identity opens only what that key opens, and leaves the repo as it was", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    const r = await cli(["config", "set", "db.url", "postgres://elsewhere", "-p", "shop", "-e", "prod", "--identity", alice.file, "--meta", meta], { env: { SOPS_AGE_KEY_FILE: admin.file } });
    expect(r.exitCode).toBe(128);
    expect(err(r)).toMatch(/cannot decrypt shop\/envs\/prod\/config\.sops\.yaml/);
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
    expect(git(meta, "status", "--porcelain")).toBe("");
  });

  it("an --identity file that is missing or holds no key is a typed error naming the file", async () => {
    const missing = join(root, "nope.txt");
    const r = await show("dev", ["--identity", missing], { SOPS_AGE_KEY_FILE: admin.file });
    expect(r.exitCode).toBe(128);
    expect(JSON.parse(out(r)).error).toMatchObject({ code: "SOPS_INVALID_IDENTITY", data: { where: missing } });
    const empty = join(root, "empty.txt");
    writeFileSync(empty, "# no key here\n");
    const e = await show("dev", ["--identity", empty], { SOPS_AGE_KEY_FILE: admin.file });
    expect(e.exitCode).toBe(128);
    expect(JSON.parse(out(e)).error.message).toBe(`${empty} is not a usable age identity file: it holds no age secret key`);
  });

  it("loadConfig: identities replaces the lookup, addIdentities adds to it", async () => {
    const environment = { SOPS_AGE_KEY_FILE: admin.file, HOME: tempDir("boot-meta-home-") };
    const base = { repo: meta, project: "shop", env: "prod", environment };
    expect((await loadConfig(base)).config).toEqual({ db: { url: "postgres://prod-db" } });
    await expect(loadConfig({ ...base, identities: [alice.identity] })).rejects.toMatchObject({ code: "CONFIG_ACCESS_DENIED", data: { you: ["alice"] } });
    expect((await loadConfig({ ...base, identities: [alice.identity], addIdentities: [admin.identity] })).config.db).toEqual({ url: "postgres://prod-db" });
    expect((await loadConfig({ ...base, environment: { SOPS_AGE_KEY_FILE: alice.file, HOME: environment.HOME }, addIdentities: [admin.identity] })).config.db).toEqual({ url: "postgres://prod-db" });
  });
});
