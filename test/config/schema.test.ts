import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { checkProjectSchema } from "../../src/config/schema.js";
import { loadConfig } from "../../src/config/loader.js";
import { isBootMetaError } from "../../src/errors.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { configAnswers, metaFixture, serve } from "../helpers/config-server.js";
import { git, tempDir } from "../helpers/gitdir.js";

const SCHEMA = {
  type: "object",
  required: ["database"],
  properties: {
    database: { type: "object", required: ["port"], properties: { port: { type: "integer", minimum: 1, maximum: 65535 }, password: { type: "string", minLength: 8 } } },
    replicas: { type: "integer" },
  },
};

describe("a project's schema.json", () => {
  const cli = cliWith();
  const meta = join(tempDir(), "meta");
  let env: NodeJS.ProcessEnv;
  let admin: Awaited<ReturnType<typeof ageKeyFile>>;

  const ok = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const r = await cli([...args, "--meta", meta], { env: { ...env, ...extra } });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    return r;
  };
  const commitSchema = (text: string) => {
    writeFileSync(join(meta, "shop/schema.json"), text);
    git(meta, "add", "shop/schema.json");
    git(meta, "commit", "-q", "-m", "shop: schema");
  };
  const snapshot = () => ({ head: git(meta, "rev-parse", "HEAD"), prod: readFileSync(join(meta, "shop/envs/prod/config.sops.yaml")), defaults: readFileSync(join(meta, "shop/config.sops.yaml")) });

  beforeAll(async () => {
    admin = await ageKeyFile();
    env = { SOPS_AGE_KEY_FILE: admin.file };
    expect((await cli(["init", meta])).exitCode).toBe(0);
    await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins"]);
    await ok(["project", "create", "shop"]);
    await ok(["env", "create", "shop", "prod"]);
    await ok(["env", "create", "shop", "stage"]);
    await ok(["config", "set", "database.port", "5432", "--defaults", "-p", "shop"]);
    await ok(["config", "set", "database.password", "correct-horse-battery", "-p", "shop", "-e", "prod"]);
    await ok(["config", "set", "replicas", "3", "-p", "shop", "-e", "prod"]);
    commitSchema(JSON.stringify(SCHEMA, null, 2));
  }, 120_000);

  it("lets a config that satisfies it load and be written", async () => {
    const c = await loadConfig({ repo: meta, project: "shop", env: "prod", identities: [admin.identity] });
    expect(c.config).toMatchObject({ database: { port: 5432 }, replicas: 3 });
    await ok(["config", "set", "replicas", "4", "-p", "shop", "-e", "prod"]);
  });

  it("refuses `config set` of a value the schema forbids, naming the key and the layer, and leaves every file as it was", async () => {
    const before = snapshot();
    const r = await cli(["config", "set", "replicas", "many", "-p", "shop", "-e", "prod", "--meta", meta, "--json"], { env });
    expect(r.exitCode).toBe(1);
    const e = JSON.parse(out(r)).error;
    expect(e.code).toBe("CONFIG_SCHEMA_INVALID");
    expect(e.message).toContain("the config of shop prod does not satisfy shop/schema.json: replicas must be integer (set in the env layer, shop/envs/prod/config.sops.yaml)");
    expect(e.message).toContain("Nothing was written to shop/envs/prod/config.sops.yaml");
    expect(e.data.violations).toEqual([{ key: "replicas", message: "must be integer", layer: "env", path: "shop/envs/prod/config.sops.yaml" }]);
    expect(snapshot()).toEqual(before);
    expect(git(meta, "status", "--porcelain")).toBe("");
  });

  it("checks every env a change to the defaults feeds", async () => {
    const before = snapshot();
    const r = await cli(["config", "set", "database.port", "99999", "--defaults", "-p", "shop", "--meta", meta], { env });
    expect(r.exitCode).toBe(1);
    expect(err(r)).toContain("Error [CONFIG_SCHEMA_INVALID]: the config of shop prod does not satisfy shop/schema.json: database.port must be <= 65535 (set in the defaults layer, shop/config.sops.yaml)");
    expect(snapshot()).toEqual(before);
  });

  it("never shows a value, even one the schema refuses", async () => {
    const r = await cli(["config", "set", "database.password", "short", "-p", "shop", "-e", "prod", "--meta", meta], { env });
    expect(r.exitCode).toBe(1);
    expect(err(r)).toContain("database.password must NOT have fewer than 8 characters (set in the env layer");
    expect(`${out(r)}${err(r)}`).not.toContain("short\n");
    expect(`${out(r)}${err(r)}`).not.toMatch(/"short"|correct-horse/);
  });

  it("refuses `config edit` that removes a required key; the layer stays as it was", async () => {
    const before = snapshot();
    const r = await cli(["config", "edit", "-p", "shop", "--defaults", "--meta", meta], { env: { ...env, EDITOR: "sed -i /port/d" } });
    expect(r.exitCode, err(r)).toBe(1);
    expect(err(r)).toContain("database.port must have required property 'port' (no layer sets it)");
    expect(snapshot()).toEqual(before);
  });

  it("makes loadConfig fail with CONFIG_SCHEMA_INVALID when a commit breaks it (written around boot-meta)", async () => {
    const strict = { ...SCHEMA, properties: { ...SCHEMA.properties, replicas: { type: "integer", maximum: 2 } } };
    commitSchema(JSON.stringify(strict));
    try {
      await expect(loadConfig({ repo: meta, project: "shop", env: "stage", identities: [admin.identity] })).resolves.toMatchObject({ env: "stage" });
      const e = await loadConfig({ repo: meta, project: "shop", env: "prod", identities: [admin.identity] }).catch((x: unknown) => x);
      expect(isBootMetaError(e, "CONFIG_SCHEMA_INVALID")).toBe(true);
      expect((e as Error).message).toMatch(/^the config of shop prod does not satisfy shop\/schema\.json: replicas must be <= 2 \(set in the env layer, shop\/envs\/prod\/config\.sops\.yaml\)\. Nothing was loaded \(commit [0-9a-f]{12}\)$/);
      const shown = await cli(["config", "show", "-p", "shop", "-e", "prod", "--meta", meta], { env });
      expect(shown.exitCode).toBe(1);
      expect(err(shown)).toContain("CONFIG_SCHEMA_INVALID");
    } finally {
      commitSchema(JSON.stringify(SCHEMA, null, 2));
    }
  });

  it("says so when schema.json is not a schema, and writes nothing", async () => {
    commitSchema("{ not json");
    try {
      const before = snapshot();
      const r = await cli(["config", "set", "replicas", "2", "-p", "shop", "-e", "prod", "--meta", meta, "--json"], { env });
      expect(r.exitCode).toBe(49);
      const e = JSON.parse(out(r)).error;
      expect(e.code).toBe("CONFIG_SCHEMA_BAD");
      expect(e.message).toMatch(/^shop\/schema\.json is not a JSON Schema boot-meta can use: /);
      expect(snapshot()).toEqual(before);
      commitSchema(JSON.stringify({ type: "object", properties: { a: { type: "no-such-type" } } }));
      const e2 = await loadConfig({ repo: meta, project: "shop", env: "prod", identities: [admin.identity] }).catch((x: unknown) => x);
      expect(isBootMetaError(e2, "CONFIG_SCHEMA_BAD")).toBe(true);
      // Whoever can push can write schema.json: a pattern that backtracks exponentially would
      // hang every load that checks a long value, so it is refused when the schema compiles.
      for (const where of [{ properties: { host: { type: "string", pattern: "^(a+)+$" } } }, { patternProperties: { "^(x*)*y$": { type: "string" } } }]) {
        commitSchema(JSON.stringify({ type: "object", ...where }));
        const e3 = await loadConfig({ repo: meta, project: "shop", env: "prod", identities: [admin.identity] }).catch((x: unknown) => x);
        expect(isBootMetaError(e3, "CONFIG_SCHEMA_BAD")).toBe(true);
        expect((e3 as Error).message).toContain("could take exponential time to match");
      }
      // An ordinary pattern is fine.
      commitSchema(JSON.stringify({ type: "object", properties: { host: { type: "string", pattern: "^[a-z0-9.-]+$" } } }));
      expect((await loadConfig({ repo: meta, project: "shop", env: "prod", identities: [admin.identity] })).commit).toMatch(/^[0-9a-f]{40}$/);
    } finally {
      commitSchema(JSON.stringify(SCHEMA, null, 2));
    }
  });
});

describe("a project's schema.json, loaded through the config service", () => {
  it("is served beside the layers and checked by the client; the ETag still confirms a held copy", async () => {
    const f = await metaFixture();
    writeFileSync(join(f.work, "shop/schema.json"), JSON.stringify({ type: "object", properties: { database: { type: "object", properties: { password: { type: "string", maxLength: 5 } } } } }));
    git(f.work, "add", "shop/schema.json");
    git(f.work, "commit", "-q", "-m", "shop: schema");
    const server = await serve(f.work);
    try {
      const body = (await (await fetch(`${server.url}/v1/projects/shop/config?env=prod`)).json()) as { schema?: unknown };
      expect(body.schema).toMatchObject({ path: "shop/schema.json", blob: git(f.work, "rev-parse", "HEAD:shop/schema.json") });
      const cacheDir = tempDir();
      const load = (env: string, identity: string) => loadConfig({ server: server.url, project: "shop", env, identities: [identity], cacheDir, environment: {} });
      const e = await load("prod", f.keys.prodServer.identity).catch((x: unknown) => x);
      expect(isBootMetaError(e, "CONFIG_SCHEMA_INVALID")).toBe(true);
      expect((e as Error).message).toContain("database.password must NOT have more than 5 characters (set in the env layer, shop/envs/prod/config.sops.yaml)");
      expect((e as Error).message).not.toContain("prod-password");
      await expect(load("dev", f.keys.alice.identity)).resolves.toMatchObject({ env: "dev" });
      const before = await configAnswers(server, 304);
      await expect(load("dev", f.keys.alice.identity)).resolves.toMatchObject({ env: "dev" });
      expect(await configAnswers(server, 304)).toBe(before + 1);
    } finally {
      await server.close();
    }
  }, 60_000);
});

describe("checkProjectSchema (what the pre-commit check calls)", () => {
  const schema = new TextEncoder().encode(JSON.stringify({ $schema: "https://json-schema.org/draft/2020-12/schema", type: "object", properties: { a: { type: "object", properties: { b: { type: "string" } } }, list: { type: "array", maxItems: 1 } } }));
  const layers = (env: Record<string, unknown>) => [
    { name: "defaults", path: "p/config.sops.yaml", value: { a: { b: "x" }, list: [1] } },
    { name: "env", path: "p/envs/prod/config.sops.yaml", value: env },
  ];

  it("is empty without a schema or for a config that satisfies it", () => {
    expect(checkProjectSchema({ project: "p", schema: undefined, layers: layers({ a: { b: 1 } }) })).toEqual([]);
    expect(checkProjectSchema({ project: "p", schema, layers: layers({ a: { b: "y" } }) })).toEqual([]);
  });

  it("names the layer a value came from after the merge (a later layer wins)", () => {
    expect(checkProjectSchema({ project: "p", schema, layers: layers({ a: { b: 7 } }) })).toEqual([{ key: "a.b", message: "must be string", layer: "env", path: "p/envs/prod/config.sops.yaml" }]);
    expect(checkProjectSchema({ project: "p", schema, layers: layers({ list: [1, 2] }) })).toEqual([{ key: "list", message: "must NOT have more than 1 items", layer: "env", path: "p/envs/prod/config.sops.yaml" }]);
    expect(checkProjectSchema({ project: "p", schema, layers: [{ name: "defaults", path: "p/config.sops.yaml", value: { a: { b: false } } }] })[0]).toMatchObject({ key: "a.b", layer: "defaults" });
  });
});
