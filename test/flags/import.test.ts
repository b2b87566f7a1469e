import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

/** `flags import` of a flagd file, through the CLI in a real meta repo. */
async function repo() {
  const root = tempDir();
  const meta = join(root, "meta");
  const key = await ageKeyFile(root);
  const cli = cliWith({ SOPS_AGE_KEY_FILE: key.file });
  const ok = async (args: string[]) => {
    const r = await cli(args[0] === "init" ? args : [...args, "--meta", meta]);
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    return r;
  };
  await ok(["init", meta]);
  await ok(["keys", "add", "admin", "--key", key.recipient, "--group", "admins"]);
  await ok(["project", "create", "shop"]);
  await ok(["env", "create", "shop", "prod"]);
  return { meta, cli, root };
}

const flagd = {
  flags: {
    banner: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting: { if: [{ $ref: "beta" }, "on", null] } },
    color: { state: "ENABLED", variants: { red: "red", blue: "blue" }, defaultVariant: "red" },
  },
  $evaluators: { beta: { "===": [{ var: "channel" }, "beta"] } },
};

describe("flags import", () => {
  it("writes a flagd file's flags and evaluators into the layer, encrypted, in one commit, and they evaluate", async () => {
    const { meta, cli, root } = await repo();
    const file = join(root, "flags.flagd.json");
    writeFileSync(file, JSON.stringify(flagd));
    const before = git(meta, "rev-parse", "HEAD");
    const r = await cli(["flags", "import", file, "-p", "shop", "-e", "prod", "--meta", meta, "--json"]);
    expect(r.exitCode, err(r)).toBe(0);
    expect(JSON.parse(out(r))).toMatchObject({ path: "shop/envs/prod/config.sops.yaml", flags: ["banner", "color"], evaluators: ["beta"] });
    expect(git(meta, "rev-list", "--count", `${before}..HEAD`)).toBe("1");
    expect(readFileSync(join(meta, "shop/envs/prod/config.sops.yaml"), "utf8")).not.toContain('"beta"');
    const onBeta = await cli(["flags", "eval", "banner", "-p", "shop", "-e", "prod", "--channel", "beta", "--meta", meta, "--json"]);
    expect(JSON.parse(out(onBeta))).toMatchObject({ value: true, variant: "on", reason: "TARGETING_MATCH" });
    const onStable = await cli(["flags", "eval", "banner", "-p", "shop", "-e", "prod", "--channel", "stable", "--meta", meta, "--json"]);
    expect(JSON.parse(out(onStable))).toMatchObject({ value: false, variant: "off" });
  });

  it("takes a file as it is: an invalid flag is written, listed, and fails alone when evaluated", async () => {
    const { meta, cli, root } = await repo();
    const file = join(root, "mixed.json");
    writeFileSync(file, JSON.stringify({ flags: { ...flagd.flags, broken: { state: "ON", variants: { a: 1 } } }, $evaluators: flagd.$evaluators }));
    const r = await cli(["flags", "import", file, "-p", "shop", "-e", "prod", "--meta", meta, "--json"]);
    expect(r.exitCode, err(r)).toBe(0);
    expect(JSON.parse(out(r))).toMatchObject({ flags: ["banner", "broken", "color"], invalid: [{ flag: "broken", errors: [expect.any(String)] }] });
    expect(err(r)).toMatch(/warning: flag broken is not a valid flagd flag.*\[FLAGS_INVALID\]/);
    const broken = await cli(["flags", "eval", "broken", "-p", "shop", "-e", "prod", "--meta", meta, "--json"]);
    expect(JSON.parse(out(broken))).toMatchObject({ reason: "ERROR", errorCode: "PARSE_ERROR" });
    const color = await cli(["flags", "eval", "color", "-p", "shop", "-e", "prod", "--meta", meta, "--json"]);
    expect(JSON.parse(out(color))).toMatchObject({ value: "red", reason: "STATIC" });
  });

  it("with --strict writes nothing when any flag is invalid, and names each", async () => {
    const { meta, cli, root } = await repo();
    const file = join(root, "bad.json");
    writeFileSync(file, JSON.stringify({ flags: { ...flagd.flags, broken: { state: "ON", variants: { a: 1 } } }, $evaluators: flagd.$evaluators }));
    const before = git(meta, "rev-parse", "HEAD");
    const bytes = readFileSync(join(meta, "shop/envs/prod/config.sops.yaml"));
    const r = await cli(["flags", "import", file, "-p", "shop", "-e", "prod", "--strict", "--meta", meta, "--json"]);
    expect(r.exitCode).toBe(49);
    const e = JSON.parse(out(r)).error;
    expect(e.code).toBe("FLAGS_INVALID");
    expect(e.message).toMatch(/broken: /);
    expect(git(meta, "rev-parse", "HEAD")).toBe(before);
    expect(readFileSync(join(meta, "shop/envs/prod/config.sops.yaml"))).toEqual(bytes);
  });

  it("refuses a file that is not a flagd file", async () => {
    const { meta, cli, root } = await repo();
    const file = join(root, "nope.json");
    writeFileSync(file, JSON.stringify({ banner: true }));
    const r = await cli(["flags", "import", file, "-p", "shop", "-e", "prod", "--meta", meta, "--json"]);
    expect(JSON.parse(out(r)).error.code).toBe("FLAGS_INVALID");
  });
});
