import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compareConfigs } from "../../src/config/diff.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

describe("config diff", () => {
  const cli = cliWith();
  const meta = join(tempDir(), "meta");
  let admin: NodeJS.ProcessEnv;
  let alice: NodeJS.ProcessEnv;

  const ok = async (args: string[], env: NodeJS.ProcessEnv) => {
    const r = await cli([...args, "--meta", meta], { env });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    return r;
  };
  const diff = (env: NodeJS.ProcessEnv, ...args: string[]) => cli(["config", "diff", "-p", "shop", ...args, "--meta", meta], { env });

  beforeAll(async () => {
    const a = await ageKeyFile();
    const al = await ageKeyFile();
    admin = { SOPS_AGE_KEY_FILE: a.file };
    alice = { SOPS_AGE_KEY_FILE: al.file };
    expect((await cli(["init", meta])).exitCode).toBe(0);
    await ok(["keys", "add", "admin", "--key", a.recipient, "--group", "admins"], admin);
    await ok(["keys", "add", "alice", "--key", al.recipient, "--group", "developers"], admin);
    await ok(["project", "create", "shop"], admin);
    for (const e of ["dev", "stage", "prod"]) await ok(["env", "create", "shop", e], admin);
    await ok(["config", "set", "database.port", "5432", "--defaults", "-p", "shop"], admin);
    await ok(["config", "set", "database.url", "postgres://stage-db/shop", "-p", "shop", "-e", "stage"], admin);
    await ok(["config", "set", "database.url", "postgres://prod-db/shop", "-p", "shop", "-e", "prod"], admin);
    await ok(["config", "set", "database.password", "s3cret-prod-password", "-p", "shop", "-e", "prod"], admin);
    await ok(["config", "set", "replicas", "3", "-p", "shop", "-e", "prod"], admin);
    await ok(["config", "set", "debug", "true", "-p", "shop", "-e", "dev"], admin);
  }, 120_000);

  it("lists the keys that differ and those in one env only, values masked", async () => {
    const r = await diff(admin, "stage", "prod");
    expect(r.exitCode, err(r)).toBe(0);
    expect(out(r)).toBe(
      [
        "only     database.password  prod: (string, 20 characters) [env]",
        "differs  database.url       stage: (string, 24 characters) [env]   prod: (string, 23 characters) [env]",
        "only     replicas           prod: (int) [env]",
        "",
      ].join("\n"),
    );
    expect(err(r)).toMatch(/^# shop stage ↔ prod at [0-9a-f]{12}: 1 differ, 2 in one env only, 1 the same; values masked \(--values shows them\)\n$/);
    expect(`${out(r)}${err(r)}`).not.toMatch(/s3cret|prod-db|stage-db|5432/);
  });

  it("shows values only with --values", async () => {
    const r = await diff(admin, "stage", "prod", "--values");
    expect(r.exitCode, err(r)).toBe(0);
    expect(out(r)).toContain('differs  database.url       stage: "postgres://stage-db/shop" [env]   prod: "postgres://prod-db/shop" [env]');
    expect(out(r)).toContain("only     replicas           prod: 3 [env]");
  });

  it("--json: the layers read, the keys, no value unless asked", async () => {
    const j = JSON.parse(out(await diff(admin, "stage", "prod", "--json")));
    expect(j).toMatchObject({ project: "shop", envs: ["stage", "prod"], values: false, complete: true, same: 1 });
    expect(j.commit).toBe(git(meta, "rev-parse", "HEAD"));
    expect(j.keys).toContainEqual({ key: "replicas", status: "only", sides: [{ env: "prod", layer: "env", path: "shop/envs/prod/config.sops.yaml", type: "int" }] });
    expect(JSON.stringify(j)).not.toMatch(/s3cret|prod-db/);
    const v = JSON.parse(out(await diff(admin, "stage", "prod", "--json", "--values")));
    expect(v.keys.find((k: { key: string }) => k.key === "database.url").sides.map((s: { value: unknown }) => s.value)).toEqual(["postgres://stage-db/shop", "postgres://prod-db/shop"]);
  });

  it("compares what the reader may see and says which layer it could not open, without failing", async () => {
    const r = await diff(alice, "dev", "prod", "--json");
    expect(r.exitCode, err(r)).toBe(0);
    const j = JSON.parse(out(r));
    expect(j.complete).toBe(false);
    expect(j.layers).toContainEqual({ env: "prod", name: "env", path: "shop/envs/prod/config.sops.yaml", found: true, readable: false, readers: ["admin"] });
    // What alice sees of prod is the defaults alone: debug is in dev only, the port is the same.
    expect(j.keys).toEqual([{ key: "debug", status: "only", sides: [{ env: "dev", layer: "env", path: "shop/envs/dev/config.sops.yaml", type: "bool" }] }]);
    expect(j.same).toBe(1);
    const h = await diff(alice, "dev", "prod");
    expect(h.exitCode).toBe(0);
    expect(err(h)).toContain("not compared: shop/envs/prod/config.sops.yaml (prod's env layer) is encrypted to admin, and none of your identities opens it\n");
    expect(err(h)).toContain("(of what you may read)");
  });

  it("refuses the same env twice and an env with no config", async () => {
    const same = await diff(admin, "prod", "prod", "--json");
    expect(same.exitCode).toBe(2);
    expect(JSON.parse(out(same)).error).toMatchObject({ code: "CONFIG_DIFF_SAME_ENV", message: "config diff compares two envs, and was given prod twice" });
    const none = await diff(admin, "prod", "qa", "--json");
    expect(none.exitCode).toBe(1);
    expect(JSON.parse(out(none)).error.code).toBe("CONFIG_NOT_FOUND");
    const bad = await diff(admin, "prod", "../x", "--json");
    expect(JSON.parse(out(bad)).error.code).toBe("META_INVALID_NAME");
  });
});

describe("compareConfigs", () => {
  it("compares leaves; lists whole; a key in one config only", () => {
    expect(compareConfigs({ a: { b: 1, c: [1, 2] }, x: "same" }, { a: { b: 2, c: [1, 2] }, x: "same", y: {} })).toEqual([
      { key: "a.b", in: "both", same: false },
      { key: "a.c", in: "both", same: true },
      { key: "x", in: "both", same: true },
      { key: "y", in: "b", same: false },
    ]);
  });
});
