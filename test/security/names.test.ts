import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, gitEnv, tempDir } from "../helpers/gitdir.js";

/**
 * Any name, any byte (issue 8, class 5). A hostile writer — anyone who can push — commits
 * paths with plain git: a newline, a CR, a tab, a quote, a backslash, bytes that are not
 * UTF-8, a leading dash, names like `constructor` and `__proto__`. Every command then treats
 * them as data: it handles them, or refuses them with a typed error; it never fails as an
 * internal error (exit 70), and never answers one path with another path's content.
 */
const cli = cliWith();
type Run = Awaited<ReturnType<typeof cli>>;

/** Exit code and error code of a run, after checking it is not an internal error. */
function outcome(r: Run, what: string): { exitCode: number; code?: string; json?: any } {
  expect(r.exitCode, `${what}: ${err(r)}`).not.toBe(70);
  expect(err(r), what).not.toMatch(/INTERNAL|TypeError|at .*\.js:\d+/);
  let json: any;
  try {
    json = JSON.parse(out(r));
  } catch {
    /* not --json */
  }
  return { exitCode: r.exitCode ?? -1, code: json?.error?.code, json };
}

/** A meta repo with three principals, a project with dev and prod, a release, a channel, an instance and a binary. */
async function prepare() {
  const root = tempDir();
  const meta = join(root, "meta");
  const admin = await ageKeyFile(root);
  const alice = await ageKeyFile(root);
  const bob = await ageKeyFile(root);
  const asAdmin = { SOPS_AGE_KEY_FILE: admin.file };
  const run = (args: string[], env: NodeJS.ProcessEnv = asAdmin) => cli([...args, "--meta", meta], { env });
  const ok = async (args: string[], env: NodeJS.ProcessEnv = asAdmin) => {
    const r = await run(args, env);
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    return r;
  };
  expect((await cli(["init", meta])).exitCode).toBe(0);
  await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins"]);
  await ok(["keys", "add", "alice", "--key", alice.recipient, "--group", "developers"]);
  await ok(["keys", "add", "bob", "--key", bob.recipient, "--group", "developers"]);
  await ok(["project", "create", "shop"]);
  for (const env of ["dev", "prod"]) await ok(["env", "create", "shop", env]);
  await ok(["config", "set", "db.port", "5432", "-p", "shop", "-e", "dev"]);
  await ok(["config", "set", "secret", "s3cr3t", "-p", "shop", "-e", "prod"]);
  const release = JSON.parse(out(await ok(["release", "create", "shop", "--version", "1.0.0", "--commit", "app=https://example.invalid/app@abcdef1", "--json"]))).id as string;
  await ok(["channel", "promote", "shop", "stable", "1.0.0"]);
  await ok(["instance", "report", "shop", "web-1", "--release", "1.0.0", "--channel", "stable"]);
  const bin = join(root, "app.bin");
  writeFileSync(bin, "a build\n");
  const digest = JSON.parse(out(await ok(["binary", "add", "shop", bin, "--release", "1.0.0", "--os", "linux", "--arch", "amd64", "--url", "https://example.invalid/app.bin", "--json"]))).sha256 as string;
  return { root, admin, alice, bob, asAdmin, release, digest, meta };
}

let base: Awaited<ReturnType<typeof prepare>>;
beforeAll(async () => {
  base = await prepare();
}, 300_000);

/** A clone of the prepared repo (cheap), with commands bound to it. */
function metaRepo() {
  const meta = join(tempDir(), "meta");
  git(base.root, "clone", "-q", base.meta, meta);
  const run = (args: string[], env: NodeJS.ProcessEnv = base.asAdmin) => cli([...args, "--meta", meta], { env });
  const ok = async (args: string[], env: NodeJS.ProcessEnv = base.asAdmin) => {
    const r = await run(args, env);
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}${out(r)}`).toBe(0);
    return r;
  };
  return { ...base, meta, run, ok };
}

/** Many CLI runs each: sized for a busy two-core machine. */
const SLOW = { timeout: 300_000 };

/** Commits files by their path bytes, as an attacker does with plain git. */
function commitAs(meta: string, files: [Buffer | string, Buffer | string][], message = "hostile") {
  for (const [p, content] of files) {
    const bytes = Buffer.concat([Buffer.from(`${meta}/`), Buffer.isBuffer(p) ? p : Buffer.from(p)]);
    mkdirSync(bytes.subarray(0, bytes.lastIndexOf(0x2f)), { recursive: true });
    writeFileSync(bytes, content);
  }
  git(meta, "add", "-A");
  git(meta, "commit", "-qm", message);
}

/** The path names of HEAD, as git has them (bytes). */
const lsTree = (meta: string) =>
  execFileSync("git", ["ls-tree", "-r", "-z", "--name-only", "HEAD"], { cwd: meta, env: gitEnv() })
    .toString("latin1")
    .split("\0")
    .filter(Boolean);

/** Odd names: line breaks, quotes, backslashes, a leading dash, names every JS object has. */
const ODD = ["a\nb", "c\rd", "tail\r", "tab\there", 'quo"te', "back\\slash", "-rf", "--all", "sp ace", "constructor", "__proto__", "toString", "hasOwnProperty"];
/** The same as bytes, plus two that are not UTF-8 (and how boot-meta names them: names.ts). */
const ODD_BYTES: [Buffer, string][] = [...ODD.map((n): [Buffer, string] => [Buffer.from(n), n]), [Buffer.from([0xff, 0xfe]), "\udcff\udcfe"], [Buffer.from([0x61, 0xc3]), "a\udcc3"]];
const asJson = (o: unknown) => `${JSON.stringify(o, null, 2)}\n`;

describe("names like constructor, __proto__ and toString are names", () => {
  it("as envs, groups, principals and channels, through every command that looks them up", SLOW, async () => {
    const m = metaRepo();
    const proto = ["constructor", "__proto__", "toString", "hasOwnProperty"];
    for (const env of proto) {
      await m.ok(["env", "create", "shop", env]);
      await m.ok(["config", "set", "which", env, "-p", "shop", "-e", env]);
      const shown = JSON.parse(out(await m.ok(["config", "show", "--json", "-p", "shop", "-e", env])));
      expect(shown.config).toEqual({ which: env });
      // Who reads it is what the `*` rule says (admins), not an inherited property.
      expect(outcome(await m.run(["config", "show", "--json", "-p", "shop", "-e", env], { SOPS_AGE_KEY_FILE: m.alice.file }), env).code).toBe("CONFIG_ACCESS_DENIED");
    }
    // Groups by those names, added by hand to .boot-meta.yaml (JSON is YAML; defineProperty, or
    // the literal would set the prototype instead of a key).
    const conf = parse(git(m.meta, "show", "HEAD:.boot-meta.yaml"));
    for (const g of proto) Object.defineProperty(conf.groups, g, { value: [], enumerable: true, writable: true, configurable: true });
    commitAs(m.meta, [[".boot-meta.yaml", JSON.stringify(conf)]], "groups with odd names");
    const fresh = await Promise.all(proto.map(() => ageKeyFile(m.root)));
    await m.ok(["keys", "add", "__proto__", "--key", fresh[0]!.recipient, "--group", "constructor"]);
    await m.ok(["keys", "add", "hasOwnProperty", "--key", fresh[1]!.recipient, "--group", "toString"]);
    await m.ok(["keys", "add", "toString", "--key", fresh[2]!.recipient, "--group", "__proto__"]);
    const keys = JSON.parse(out(await m.ok(["keys", "list", "--json"]))).principals;
    expect(keys).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "__proto__", recipients: [fresh[0]!.recipient], groups: ["constructor"] }),
        expect.objectContaining({ name: "hasOwnProperty", recipients: [fresh[1]!.recipient], groups: ["toString"] }),
        expect.objectContaining({ name: "toString", recipients: [fresh[2]!.recipient], groups: ["__proto__"] }),
      ]),
    );
    const matrix = JSON.parse(out(await m.ok(["access", "show", "--json"])));
    for (const env of proto) expect(matrix.files).toContainEqual(expect.objectContaining({ path: `shop/envs/${env}/config.sops.yaml`, readers: ["admin"] }));
    expect(outcome(await m.run(["access", "check", "--json"]), "check").exitCode).toBe(0);
    await m.ok(["access", "sync"]);
    await m.ok(["keys", "remove", "__proto__"]);
    for (const ch of proto) await m.ok(["channel", "promote", "shop", ch, "1.0.0"]);
    const which = JSON.parse(out(await m.ok(["binary", "which", m.digest, "--json"])));
    expect(which.channels.sort()).toEqual([...proto, "stable"].sort());
    for (const ch of proto) {
      expect(which.shares[ch]).toBe(100);
      expect(JSON.parse(out(await m.ok(["channel", "show", "shop", ch, "--json"]))).channel).toMatchObject({ name: ch, releaseId: m.release });
    }
    expect(git(m.meta, "status", "--porcelain")).toBe("");
  });

  it("as a release id and field names inside records a hostile writer committed", SLOW, async () => {
    const m = metaRepo();
    const record = (id: string, releaseId: string) => ({ id, project: "shop", releaseId, channel: "stable", changedAt: "2026-11-25T00:00:00Z", constructor: "x", __proto__: { polluted: true } });
    // Written as text: JSON.stringify would drop a __proto__ key.
    const text = (id: string, releaseId: string) => asJson(record(id, releaseId)).replace('"constructor": "x"', '"constructor": "x",\n  "__proto__": { "polluted": true }');
    commitAs(m.meta, [
      ["shop/instances/w1.json", text("w1", "toString")],
      ["shop/instances/w2.json", text("w2", "__proto__")],
      ["shop/instances/w3.json", text("w3", "constructor")],
    ]);
    const list = outcome(await m.run(["instance", "list", "shop", "--json"]), "instance list");
    expect(list.exitCode).toBe(0);
    expect(Object.keys(list.json.byRelease).sort()).toEqual([m.release, "__proto__", "constructor", "toString"].sort());
    for (const [id, rel] of [["w1", "toString"], ["w2", "__proto__"], ["w3", "constructor"]]) expect(list.json.byRelease[rel as string]).toEqual([expect.objectContaining({ id })]);
    // A later write keeps every unknown field, `constructor` and `__proto__` included.
    await m.ok(["instance", "report", "shop", "w1", "--release", "1.0.0", "--channel", "stable"]);
    const w1 = git(m.meta, "ls-files", "shop/instances").split("\n").find((p) => p.endsWith("/w1.json"));
    const kept = JSON.parse(git(m.meta, "show", `HEAD:${w1}`));
    expect(Object.keys(kept)).toEqual(expect.arrayContaining(["constructor", "__proto__"]));
    expect(kept.releaseId).toBe(m.release);
  });
});

describe("names with any bytes, committed with plain git", () => {
  it("are listed as themselves by every command, and each is read as itself", SLOW, async () => {
    const m = metaRepo();
    const files: [Buffer, string][] = [];
    for (const [bytes, name] of ODD_BYTES) {
      const at = (dir: string, suffix: string) => Buffer.concat([Buffer.from(dir), bytes, Buffer.from(suffix)]);
      files.push([at("shop/instances/", ".json"), asJson({ id: name, project: "shop", releaseId: m.release, channel: "stable", changedAt: "2026-11-25T00:00:00Z" })]);
      files.push([at("shop/channels/", ".json"), asJson({ project: "shop", name, releaseId: m.release, updatedAt: "2026-11-25T00:00:00Z" })]);
      // Beside the layout: a key file, an env dir and a top-level dir nobody governs.
      files.push([at("keys/", ".txt"), `# not a principal anyone named\n${m.bob.recipient}\n`]);
      files.push([at("", "/notes.txt"), `top ${name}\n`]);
      files.push([at("shop/releases/2026/11/", ".json"), "{}\n"]);
    }
    commitAs(m.meta, files);
    const instances = outcome(await m.run(["instance", "list", "shop", "--json"]), "instance list");
    expect(instances.exitCode).toBe(0);
    expect(instances.json.byRelease[m.release].map((i: { id: string }) => i.id).sort()).toEqual(["web-1", ...ODD_BYTES.map(([, n]) => n)].sort());
    const which = outcome(await m.run(["binary", "which", m.digest, "--json"]), "binary which");
    expect(which.exitCode).toBe(0);
    expect(which.json.channels.sort()).toEqual(["stable", ...ODD_BYTES.map(([, n]) => n)].sort());
    const releases = outcome(await m.run(["release", "list", "shop", "--json"]), "release list");
    expect(releases.json.releases.map((r: { id: string }) => r.id)).toEqual([m.release]);
    const keys = outcome(await m.run(["keys", "list", "--json"]), "keys list");
    const principals = keys.json.principals;
    expect(keys.exitCode).toBe(0);
    // A key file whose name is no principal's name (a line break, a quote, bytes that are not
    // UTF-8) names no principal: no rule can give it anything, so it is not listed as one.
    // Names a principal may have (`-rf`, `--all`) are principals like any other.
    const valid = (n: string) => /^[A-Za-z0-9._-]+$/.test(n) && n !== "." && n !== "..";
    for (const [, n] of ODD_BYTES) {
      if (valid(n)) expect(principals).toContainEqual(expect.objectContaining({ name: n, recipients: [m.bob.recipient], groups: [] }));
      else expect(principals).not.toContainEqual(expect.objectContaining({ name: n }));
    }
    // The principals the rules name keep exactly their own keys.
    for (const [who, key] of [["admin", m.admin], ["alice", m.alice], ["bob", m.bob]] as const) expect(principals).toContainEqual(expect.objectContaining({ name: who, recipients: [key.recipient] }));
    expect(outcome(await m.run(["access", "check", "--json"]), "access check").exitCode).toBe(0);
    expect(outcome(await m.run(["access", "show", "--json"]), "access show").exitCode).toBe(0);
    expect(JSON.parse(out(await m.ok(["access", "sync", "--json"])))).toMatchObject({ rotated: [], rewrapped: [] });
    expect(JSON.parse(out(await m.ok(["config", "show", "--json", "-p", "shop", "-e", "dev"]))).config).toEqual({ db: { port: 5432 } });
    expect(JSON.parse(out(await m.ok(["channel", "show", "shop", "stable", "--json"]))).channel.releaseId).toBe(m.release);
    const history = outcome(await m.run(["channel", "history", "shop", "stable", "--json"]), "channel history");
    expect(history.exitCode).toBe(0);
    // Writes around them keep every name byte for byte.
    const before = lsTree(m.meta);
    await m.ok(["keys", "add", "carol", "--key", (await ageKeyFile(m.root)).recipient, "--group", "developers"]);
    await m.ok(["keys", "remove", "carol"]);
    await m.ok(["config", "set", "db.port", "6543", "-p", "shop", "-e", "dev"]);
    expect(lsTree(m.meta).filter((p) => !before.includes(p))).toEqual([]);
    expect(before.filter((p) => !lsTree(m.meta).includes(p))).toEqual([]);
    expect(git(m.meta, "fsck", "--no-progress")).toBe("");
    expect(git(m.meta, "status", "--porcelain")).toBe("");
  });

  it("never answer one path with another's: a key file named to look like two requests", SLOW, async () => {
    // `git cat-file --batch` reads a line per request: a name with a line break, or ending in
    // CR, once made the read of keys/admin.txt\nzz.txt return keys/admin.txt, and every read
    // after it the answer meant for the one before (bob's key went missing, and a re-key
    // dropped him).
    const m = metaRepo();
    const mallory = await ageKeyFile(m.root);
    commitAs(m.meta, [
      ["keys/admin.txt\nzz.txt", `${mallory.recipient}\n`],
      ["keys/alice.txt\r.txt", `${mallory.recipient}\n`],
      ["keys/b\n.txt", `${mallory.recipient}\n`],
    ]);
    const keys = JSON.parse(out(await m.ok(["keys", "list", "--json"]))).principals;
    const byName = new Map(keys.map((k: { name: string; recipients: string[] }) => [k.name, k.recipients]));
    expect(byName.get("admin")).toEqual([m.admin.recipient]);
    expect(byName.get("alice")).toEqual([m.alice.recipient]);
    expect(byName.get("bob")).toEqual([m.bob.recipient]);
    expect(byName.has("admin.txt\nzz")).toBe(false);
    expect(outcome(await m.run(["access", "check", "--json"]), "access check").exitCode).toBe(0);
    expect(JSON.parse(out(await m.ok(["access", "sync", "--json"])))).toMatchObject({ rotated: [], rewrapped: [] });
    // Bob still reads dev: nothing was rotated away from him.
    expect(JSON.parse(out(await m.ok(["config", "show", "--json", "-p", "shop", "-e", "dev"], { SOPS_AGE_KEY_FILE: m.bob.file }))).config).toEqual({ db: { port: 5432 } });
  });

  it("a group member with a line break cannot add a rule to the generated .sops.yaml", SLOW, async () => {
    const m = metaRepo();
    const mallory = await ageKeyFile(m.root);
    const conf = parse(git(m.meta, "show", "HEAD:.boot-meta.yaml"));
    conf.groups.admins.push(`x\n  - path_regex: .*\n    age: ${mallory.recipient}\n  #`);
    commitAs(m.meta, [[".boot-meta.yaml", JSON.stringify(conf)]]);
    await m.ok(["access", "sync"]);
    const rules = parse(git(m.meta, "show", "HEAD:.sops.yaml")).creation_rules as { path_regex: string; age: string }[];
    expect(rules.map((r) => r.path_regex)).not.toContain(".*");
    expect(rules.map((r) => r.age).join(",")).not.toContain(mallory.recipient);
  });

  it("entries git itself would never check out (named ..) are passed over, not a crash", SLOW, async () => {
    const m = metaRepo();
    const g = (input: Buffer | string, ...args: string[]) => execFileSync("git", args, { cwd: m.meta, env: gitEnv(), input }).toString().trim();
    const rec = g(asJson({ id: "w9", project: "shop", releaseId: m.release, changedAt: "2026-11-25T00:00:00Z" }), "hash-object", "-w", "--stdin");
    const entry = (name: string) => Buffer.concat([Buffer.from(`100644 ${name}\0`), Buffer.from(rec, "hex")]);
    // In tree order: "..", "a/b.json" (a name with a slash), "w9.json".
    const evil = g(Buffer.concat([entry(".."), entry("a/b.json"), entry("w9.json")]), "hash-object", "-t", "tree", "--literally", "-w", "--stdin");
    const shop = g(`${git(m.meta, "ls-tree", "HEAD:shop").split("\n").filter((l) => !l.endsWith("\tinstances")).join("\n")}\n040000 tree ${evil}\tinstances\n`, "mktree");
    const top = g(`${git(m.meta, "ls-tree", "HEAD").split("\n").filter((l) => !l.endsWith("\tshop")).join("\n")}\n040000 tree ${shop}\tshop\n`, "mktree");
    git(m.meta, "update-ref", "refs/heads/main", g("hostile\n", "commit-tree", top, "-p", "HEAD"));
    const r = outcome(await m.run(["instance", "list", "shop", "--json"]), "instance list");
    expect(r.exitCode).toBe(0);
    expect(Object.values(r.json.byRelease).flat()).toEqual([expect.objectContaining({ id: "w9" })]);
  });
});
