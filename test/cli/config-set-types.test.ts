import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// `config set` says which type it stored, keeps text that a number would not read back as
// (1.10) a string with a note, and parses YAML flow lists and maps.
describe("config set types", () => {
  const cli = cliWith();
  const meta = join(tempDir(), "meta");
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const admin = await ageKeyFile();
    env = { SOPS_AGE_KEY_FILE: admin.file };
    expect((await cli(["init", meta])).exitCode).toBe(0);
    for (const args of [["keys", "add", "admin", "--key", admin.recipient, "--group", "admins"], ["project", "create", "shop"], ["env", "create", "shop", "dev"]]) {
      const r = await cli([...args, "--meta", meta], { env });
      expect(r.exitCode, err(r)).toBe(0);
    }
  });

  const set = (...args: string[]) => cli(["config", "set", ...args, "-p", "shop", "-e", "dev", "--meta", meta], { env });
  const stored = async () => JSON.parse(out(await cli(["config", "show", "--json", "-p", "shop", "-e", "dev", "--meta", meta], { env }))).config;

  it("says the type it stored, in words and in --json", async () => {
    const r = await set("database.port", "8080");
    expect(r.exitCode, err(r)).toBe(0);
    expect(err(r)).toMatch(/^set database\.port = 8080 \(int\) in shop\/envs\/dev\/config\.sops\.yaml \([0-9a-f]{12}\)\n$/);
    const cases: [string, string, string][] = [
      ["ratio", "1.5", "float"],
      ["debug", "true", "bool"],
      ["nothing", "null", "null"],
      ["database.url", "postgres://db/shop", "string"],
    ];
    for (const [key, value, type] of cases) {
      const j = await set(key, value, "--json");
      expect(j.exitCode, err(j)).toBe(0);
      expect(JSON.parse(out(j))).toMatchObject({ key, type, notes: [], path: "shop/envs/dev/config.sops.yaml" });
    }
    expect(await stored()).toMatchObject({ database: { port: 8080, url: "postgres://db/shop" }, ratio: 1.5, debug: true });
    expect(JSON.parse(out(await set("port_text", "8080", "--string", "--json"))).type).toBe("string");
  });

  it("never prints a string value back (it may be a secret)", async () => {
    const r = await set("payments.api_key", "sk_demo_0123456789");
    expect(r.exitCode, err(r)).toBe(0);
    expect(err(r)).toMatch(/^set payments\.api_key \(string, 18 characters\) in /);
    expect(`${out(r)}${err(r)}`).not.toContain("sk_demo_0123456789");
  });

  it("keeps 1.10 a string, with a note, instead of storing 1.1", async () => {
    const r = await set("app.version", "1.10");
    expect(r.exitCode, err(r)).toBe(0);
    expect(err(r)).toContain('note: 1.10 is kept as the string "1.10": as a float it would be stored as 1.1; write 1.1 to store the number\n');
    expect(err(r)).toContain("set app.version (string, 4 characters)");
    expect((await stored()).app.version).toBe("1.10");
    const j = JSON.parse(out(await set("mode", "0755", "--json")));
    expect(j).toMatchObject({ type: "string", notes: [expect.stringContaining("as an int it would be stored as 493")] });
    expect((await stored()).mode).toBe("0755");
  });

  it("parses flow lists and maps", async () => {
    const l = await set("allowed_ports", "[80, 443]");
    expect(l.exitCode, err(l)).toBe(0);
    expect(err(l)).toMatch(/^set allowed_ports \(list of 2\) in /);
    const m = JSON.parse(out(await set("replica", "{host: db-2, port: 5432, tags: [a, 'b c'], version: 1.10}", "--json")));
    expect(m).toMatchObject({ type: "map", notes: [expect.stringContaining("1.10 is kept as the string")] });
    const c = await stored();
    expect(c.allowed_ports).toEqual([80, 443]);
    expect(c.replica).toEqual({ host: "db-2", port: 5432, tags: ["a", "b c"], version: "1.10" });
  });

  it("refuses a broken flow collection with a typed error and leaves the repo as it was", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    const r = await set("ports", "[80, 443", "--json");
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(out(r)).error).toMatchObject({
      code: "CONFIG_BAD_VALUE",
      message: "the value looks like a YAML flow list but is not one: Flow sequence must end with a ]",
      suggestions: ["write a list like '[1, 2, three]' (quote it for the shell)", "or pass --string to store the text as it is"],
    });
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
    expect(git(meta, "status", "--porcelain")).toBe("");
    const asText = JSON.parse(out(await set("ports", "[80, 443", "--string", "--json")));
    expect(asText.type).toBe("string");
    expect((await stored()).ports).toBe("[80, 443");
  });
});
