import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { evaluateFlag, loadFlags } from "../../src/index.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// Flags in a real meta repo: written with `boot-meta flags set/enable/disable` (encrypted like
// every config value), read with loadFlags (the context from where the code runs) and
// `boot-meta flags eval`.
describe("flags in a meta repo", () => {
  const cli = cliWith();
  const meta = join(tempDir(), "meta");
  let env: NodeJS.ProcessEnv;
  let admin: Awaited<ReturnType<typeof ageKeyFile>>;
  const run = (...args: string[]) => cli([...args, "--meta", meta], { env });
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}${out(r)}`).toBe(0);
    return r;
  };
  const evalJson = async (...args: string[]) => JSON.parse(out(await ok("flags", "eval", ...args, "-p", "shop", "-e", "prod", "--json")));

  const CUSTOMER = "acme-corp-4711";
  const checkout = {
    state: "ENABLED",
    variants: { on: true, off: false },
    defaultVariant: "off",
    targeting: { if: [{ in: [CUSTOMER, [{ var: "customer" }]] }, "on", { if: [{ "===": [{ var: "channel" }, "beta"] }, "on", null] }] },
  };

  beforeAll(async () => {
    admin = await ageKeyFile();
    env = { SOPS_AGE_KEY_FILE: admin.file };
    expect((await cli(["init", meta])).exitCode).toBe(0);
    await ok("keys", "add", "admin", "--key", admin.recipient, "--group", "admins");
    await ok("project", "create", "shop");
    for (const e of ["prod", "dev", "dev/alice"]) await ok("env", "create", "shop", e);
    const def = join(tempDir(), "checkout.json");
    writeFileSync(def, JSON.stringify(checkout));
    await ok("flags", "set", "new_checkout", "--file", def, "-p", "shop", "--defaults");
    await ok("flags", "set", "color", "--variants", '{"red": "#f00", "blue": "#00f"}', "--default-variant", "red", "--targeting", '{"fractional": [["red", 50], ["blue", 50]]}', "-p", "shop", "-e", "prod");
    await ok("flags", "set", "banner", "welcome", "-p", "shop", "-e", "prod");
    await ok("flags", "set", "old_ui", "true", "-p", "shop", "-e", "prod");
    await ok("flags", "disable", "old_ui", "-p", "shop", "-e", "prod");
  });

  it("stores a flag set through the CLI encrypted: no value or rule of it in the repo in plaintext", () => {
    const defaults = readFileSync(join(meta, "shop/config.sops.yaml"), "utf8");
    expect(defaults).toContain("new_checkout:");
    expect(defaults).not.toContain(CUSTOMER);
    expect(defaults).not.toContain("beta");
    expect(defaults).not.toMatch(/: (true|false|off|on|ENABLED)$/m);
    const prod = readFileSync(join(meta, "shop/envs/prod/config.sops.yaml"), "utf8");
    for (const secret of ["#f00", "#00f", "welcome", "DISABLED"]) expect(prod).not.toContain(secret);
    expect(git(meta, "status", "--porcelain")).toBe("");
  });

  it("loads with the context filled from where it runs: project, env, commit, and channel/release/instance given", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    const flags = await loadFlags({ repo: meta, project: "shop", env: "prod", identities: [admin.identity], instance: "web-3", channel: "stable", release: "1.4.0", environment: {}, cwd: meta });
    expect(flags.commit).toBe(head);
    expect(flags.context()).toEqual({ project: "shop", env: "prod", commit: head, channel: "stable", release: "1.4.0", instance: "web-3", targetingKey: "web-3" });
    expect(flags.keys()).toEqual(["banner", "color", "new_checkout", "old_ui"]);
    expect(flags.evaluate("new_checkout")).toMatchObject({ value: false, reason: "DEFAULT", commit: head });
    expect(flags.evaluate("new_checkout", { context: { customer: CUSTOMER } })).toMatchObject({ value: true, reason: "TARGETING_MATCH" });
    const beta = await evaluateFlag("new_checkout", { repo: meta, project: "shop", env: "prod", identities: [admin.identity], channel: "beta", environment: {}, cwd: meta });
    expect(beta).toMatchObject({ value: true, variant: "on", reason: "TARGETING_MATCH", commit: head });
  });

  it("takes channel, release and instance from BOOT_META_* variables and the bootstrap file", async () => {
    const app = tempDir("app-");
    writeFileSync(join(app, ".boot-meta.local.yaml"), `repo: ${meta}\nproject: shop\nenv: prod\nchannel: beta\ninstance: web-9\n`);
    const flags = await loadFlags({ identities: [admin.identity], cwd: app, environment: { BOOT_META_RELEASE: "2.0.0" } });
    expect(flags.context()).toMatchObject({ project: "shop", env: "prod", channel: "beta", instance: "web-9", release: "2.0.0", targetingKey: "web-9" });
    expect(flags.evaluate("new_checkout").value).toBe(true);
  });

  it("lets a developer pin a flag in their own folder; the env below keeps its rules", async () => {
    await ok("flags", "set", "new_checkout", "true", "-p", "shop", "-e", "dev/alice");
    const alice = await loadFlags({ repo: meta, project: "shop", env: "dev/alice", identities: [admin.identity], environment: {}, cwd: meta });
    expect(alice.get("new_checkout")?.layers).toEqual(["defaults", "developer"]);
    expect(alice.evaluate("new_checkout")).toMatchObject({ value: true, reason: "STATIC" });
    const dev = await loadFlags({ repo: meta, project: "shop", env: "dev", identities: [admin.identity], environment: {}, cwd: meta });
    expect(dev.evaluate("new_checkout")).toMatchObject({ value: false, reason: "DEFAULT" });
  });

  it("prints value, variant, reason and commit for each reason through `flags eval`", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    expect(await evalJson("banner")).toEqual({ key: "banner", value: "welcome", variant: "default", reason: "STATIC", errorCode: null, errorMessage: null, flagMetadata: {}, commit: head });
    expect(await evalJson("new_checkout")).toMatchObject({ value: false, variant: "off", reason: "DEFAULT" });
    expect(await evalJson("new_checkout", "--context", `customer=${CUSTOMER}`)).toMatchObject({ value: true, variant: "on", reason: "TARGETING_MATCH" });
    expect(await evalJson("new_checkout", "--channel", "beta")).toMatchObject({ value: true, reason: "TARGETING_MATCH" });
    const split = await evalJson("color", "--targeting-key", "user-1");
    expect(split).toMatchObject({ reason: "SPLIT" });
    expect(["#f00", "#00f"]).toContain(split.value);
    expect(await evalJson("color", "--targeting-key", "user-1")).toEqual(split);
    expect(await evalJson("old_ui", "--type", "boolean", "--default", "false")).toMatchObject({ value: false, variant: null, reason: "DISABLED" });
    expect(await evalJson("nope", "--default", "3")).toMatchObject({ value: 3, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
    expect(await evalJson("banner", "--type", "number", "--default", "1")).toMatchObject({ value: 1, reason: "ERROR", errorCode: "TYPE_MISMATCH" });
    expect(await evalJson("new_checkout", "--context-json", `{"customer": "${CUSTOMER}"}`)).toMatchObject({ value: true, reason: "TARGETING_MATCH" });

    const r = await ok("flags", "eval", "new_checkout", "-p", "shop", "-e", "prod", "--context", `customer=${CUSTOMER}`);
    expect(out(r)).toBe(`value    true\nvariant  on\nreason   TARGETING_MATCH\ncommit   ${head}\n`);
    const e = await ok("flags", "eval", "nope", "-p", "shop", "-e", "prod");
    expect(out(e)).toBe(`value    null\nvariant  -\nreason   ERROR\nerror    FLAG_NOT_FOUND: flag 'nope' not found\ncommit   ${head}\n`);
  });

  it("a flag written around validation (config set) fails alone on load, with an error that names it", async () => {
    await ok("config", "set", "flags.broken", "{state: ON, variants: {a: 1}}", "-p", "shop", "-e", "prod");
    const flags = await loadFlags({ repo: meta, project: "shop", env: "prod", identities: [admin.identity], environment: {}, cwd: meta });
    expect(flags.evaluate("broken", { defaultValue: 0 })).toMatchObject({
      value: 0,
      reason: "ERROR",
      errorCode: "PARSE_ERROR",
      errorMessage: "flag broken (set in env) is not a valid flagd flag: state must be equal to one of the allowed values (ENABLED, DISABLED)",
    });
    expect(flags.evaluate("banner").value).toBe("welcome");
    const list = JSON.parse(out(await ok("flags", "list", "-p", "shop", "-e", "prod", "--json")));
    expect(list.flags.find((f: { key: string }) => f.key === "broken")).toMatchObject({ valid: false, errors: ["state must be equal to one of the allowed values (ENABLED, DISABLED)"] });
    expect(await evalJson("broken")).toMatchObject({ reason: "ERROR", errorCode: "PARSE_ERROR" });
    await ok("config", "unset", "flags.broken", "-p", "shop", "-e", "prod");
  });

  it("encrypts flags per env: a developer's key evaluates dev's flags and cannot evaluate prod's", async () => {
    const dev = await ageKeyFile();
    await ok("keys", "add", "dev1", "--key", dev.recipient, "--group", "developers");
    await ok("flags", "set", "dev_tools", "true", "-p", "shop", "-e", "dev");
    const asDev = (e: string) => cli(["flags", "eval", "dev_tools", "-p", "shop", "-e", e, "--meta", meta, "--json"], { env: { SOPS_AGE_KEY_FILE: dev.file } });
    const inDev = await asDev("dev");
    expect(inDev.exitCode, err(inDev)).toBe(0);
    expect(JSON.parse(out(inDev))).toMatchObject({ value: true, reason: "STATIC" });
    const inProd = await asDev("prod");
    expect(inProd.exitCode).not.toBe(0);
    const e = JSON.parse(out(inProd)).error;
    expect(e.code).toBe("CONFIG_ACCESS_DENIED");
    expect(out(inProd)).not.toContain("welcome");
  });

  it("refuses to write an invalid flag: FLAGS_INVALID naming it, the repo left as it was", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    const before = readFileSync(join(meta, "shop/envs/prod/config.sops.yaml"));
    const r = await run("flags", "set", "bad", "--json-value", '{"state": "ENABLED", "variants": {"a": 1, "b": "x"}, "defaultVariant": "a"}', "-p", "shop", "-e", "prod", "--json");
    expect(r.exitCode).toBe(49);
    expect(JSON.parse(out(r)).error).toMatchObject({
      code: "FLAGS_INVALID",
      message: "flag bad is not a valid flagd flag, so it was not written to shop/envs/prod/config.sops.yaml: its variants must all be booleans, all strings, all numbers or all objects; they are number, string",
    });
    const j = await run("flags", "set", "bad", "--json-value", "{nope", "-p", "shop", "-e", "prod", "--json");
    expect(j.exitCode).toBe(2);
    expect(JSON.parse(out(j)).error.code).toBe("INVALID_ARGUMENT");
    const k = await run("flags", "set", "$evaluators", "true", "-p", "shop", "-e", "prod", "--json");
    expect(JSON.parse(out(k)).error.code).toBe("FLAGS_BAD_KEY");
    const n = await run("flags", "enable", "never_defined", "-p", "shop", "-e", "prod", "--json");
    expect(n.exitCode).toBe(1);
    expect(JSON.parse(out(n)).error).toMatchObject({ code: "FLAGS_NOT_FOUND", message: "there is no flag never_defined in shop/envs/prod/config.sops.yaml or the layers below it" });
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
    expect(readFileSync(join(meta, "shop/envs/prod/config.sops.yaml")).equals(before)).toBe(true);
  });

  it("enable/disable set flagd's state: over a flag the layers below define, and on a shorthand in the layer", async () => {
    await ok("flags", "disable", "new_checkout", "-p", "shop", "-e", "prod");
    expect(await evalJson("new_checkout", "--channel", "beta")).toMatchObject({ reason: "DISABLED" });
    const got = JSON.parse(out(await ok("flags", "get", "new_checkout", "-p", "shop", "-e", "prod", "--json")));
    expect(got).toMatchObject({ key: "new_checkout", layers: ["defaults", "env"], definition: { ...checkout, state: "DISABLED" }, valid: true });
    await ok("flags", "enable", "new_checkout", "-p", "shop", "-e", "prod");
    expect(await evalJson("new_checkout", "--channel", "beta")).toMatchObject({ value: true, reason: "TARGETING_MATCH" });
    await ok("flags", "enable", "old_ui", "-p", "shop", "-e", "prod");
    expect(await evalJson("old_ui")).toMatchObject({ value: true, reason: "STATIC" });
  });
});
