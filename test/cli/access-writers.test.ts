import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

const cli = cliWith();

/** shop with dev, prod and alice's folder; admin in admins, alice in developers, ci in ci; a channel stable. */
async function repo() {
  const root = tempDir();
  const meta = join(root, "meta");
  const admin = await ageKeyFile(root);
  const ok = async (args: string[]) => {
    const r = await cli([...args, "--meta", meta], { env: { SOPS_AGE_KEY_FILE: admin.file } });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    return r;
  };
  expect((await cli(["init", meta])).exitCode).toBe(0);
  await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins"]);
  await ok(["keys", "add", "alice", "--key", (await ageKeyFile(root)).recipient, "--group", "developers"]);
  await ok(["keys", "add", "ci", "--key", (await ageKeyFile(root)).recipient, "--group", "ci"]);
  await ok(["project", "create", "shop"]);
  for (const env of ["dev", "prod", "dev/alice"]) await ok(["env", "create", "shop", env]);
  return { meta, ok };
}

const area = (m: { writers: { where: Record<string, string> }[] }, where: Record<string, string>) => m.writers.find((w) => JSON.stringify(w.where) === JSON.stringify(where));

describe("access show: who may write, beside who reads", () => {
  it("shows the default write rules per file and per part of the repository", async () => {
    const { ok } = await repo();
    const m = JSON.parse(out(await ok(["access", "show", "--json"])));
    const file = (path: string) => m.files.find((f: { path: string }) => f.path === path);
    expect(file("shop/envs/prod/config.sops.yaml")).toMatchObject({ readers: ["admin"], writers: ["admin"], writeRule: "write.envs.prod (default: the env's readers)" });
    expect(file("shop/envs/dev/config.sops.yaml")).toMatchObject({ readers: ["admin", "alice"], writers: ["admin", "alice"] });
    expect(file("shop/envs/dev/alice/config.sops.yaml")).toMatchObject({ writers: ["admin", "alice"], writeRule: "write.envs.dev/alice (default: the env's readers)" });
    expect(area(m, { area: "admin" })).toMatchObject({ principals: ["admin"], anyone: false, rule: "write.admin (default)" });
    expect(area(m, { area: "defaults", project: "shop" })).toMatchObject({ principals: ["admin"], rule: "write.defaults (default)" });
    expect(area(m, { area: "env", project: "shop", env: "*" })).toMatchObject({ principals: ["admin"] });
    expect(area(m, { area: "channel", project: "shop", channel: "*" })).toMatchObject({ principals: ["admin", "ci"], rule: "write.channels (default)" });
    expect(area(m, { area: "releases", project: "shop" })).toMatchObject({ principals: ["admin", "ci"] });
    expect(area(m, { area: "instances", project: "shop" })).toMatchObject({ anyone: true, rule: "write.instances (default)" });
  });

  it("follows write rules in .boot-meta.yaml: a channel of its own, envs, defaults", async () => {
    const { meta, ok } = await repo();
    const file = join(meta, ".boot-meta.yaml");
    writeFileSync(file, `${readFileSync(file, "utf8")}write:\n  defaults: [admins, ci]\n  envs:\n    prod: [admins]\n    "dev/*": [$owner]\n  channels:\n    stable: [captain, admins]\n    "*": [ci]\n  instances: [prod-servers]\n`);
    git(meta, "commit", "-qam", "write rules");
    const m = JSON.parse(out(await ok(["access", "show", "--json"])));
    expect(m.files.find((f: { path: string }) => f.path === "shop/envs/dev/alice/config.sops.yaml")).toMatchObject({ readers: ["admin", "alice"], writers: ["alice"], writeRule: "write.envs.dev/*" });
    expect(area(m, { area: "defaults", project: "shop" })).toMatchObject({ principals: ["admin", "ci"], rule: "write.defaults" });
    expect(area(m, { area: "channel", project: "shop", channel: "stable" })).toMatchObject({ principals: ["admin", "captain"], rule: "write.channels.stable" });
    expect(area(m, { area: "channel", project: "shop", channel: "*" })).toMatchObject({ principals: ["ci"], rule: "write.channels.*" });
    expect(area(m, { area: "instances", project: "shop" })).toMatchObject({ principals: [], anyone: false });
    const human = out(await ok(["access", "show"]));
    expect(human).toMatch(/shop: channel stable\s+admin, captain\s+write\.channels\.stable/);
    expect(human).toMatch(/shop: instances, events\s+no one\s+write\.instances/);
    expect(human).toMatch(/rules, keys\/, tokens\/, subscriptions\/\s+admin\s+write\.admin \(default\)/);
  });
});
