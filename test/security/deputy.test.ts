import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { armor, Encrypter } from "age-encryption";
import { beforeAll, describe, expect, it } from "vitest";
import { runDemo } from "../../src/demo/demo.js";
import { dataKeyOfBytes } from "../../src/sops/engine.js";
import { identitySetFrom, parseIdentityFile } from "../../src/sops/identities.js";
import { cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

/**
 * The hostile writer: someone who can push to the meta repo (here alice, a developer) but
 * is not a reader of prod. They shape the repository with plain git, push, and wait for an
 * admin's routine command. Every test starts from the demo's world (admin, alice, bob,
 * prod-server, ci; shop with dev, dev/alice, dev/bob, stage, prod; a build sealed to prod),
 * on its own bare remote, with a clone for the attacker and one for the admin, and runs the
 * admin's side through the CLI.
 */
const cli = cliWith();
let template: string;
let ids: Record<string, string>;
const PROD = "shop/envs/prod/config.sops.yaml";
const PROD_SECRET = "sk_demo_only_not_a_real_key";

beforeAll(async () => {
  const demo = await runDemo(join(tempDir(), "demo"));
  template = demo.dir;
  ids = demo.identities;
}, 180_000);

interface World {
  remote: string;
  admin: string;
  attacker: string;
  /** Runs the CLI as `who` on the admin's clone (`--meta`), or for a sops verb in `cwd`. */
  as(who: string, args: string[], o?: { cwd?: string; input?: string }): ReturnType<typeof cli>;
  /** Commits and pushes whatever the attacker did with plain git; the admin pulls it. */
  attackerPushes(message: string): void;
  head(): string;
}

function world(): World {
  const root = tempDir("boot-meta-attack-");
  const remote = join(root, "remote.git");
  git(root, "clone", "-q", "--bare", template, remote);
  const clone = (name: string) => {
    const d = join(root, name);
    git(root, "clone", "-q", remote, d);
    git(d, "config", "user.name", name);
    git(d, "config", "user.email", `${name}@test.invalid`);
    return d;
  };
  const admin = clone("admin");
  const attacker = clone("attacker");
  return {
    remote,
    admin,
    attacker,
    as: (who, args, o = {}) => cli(o.cwd ? args : [...args, "--meta", admin], { cwd: o.cwd, env: { SOPS_AGE_KEY_FILE: ids[who] as string }, input: o.input }),
    attackerPushes(message) {
      git(attacker, "add", "-A");
      git(attacker, "commit", "-qm", message);
      git(attacker, "push", "-q", "origin", "main");
      git(admin, "pull", "-q", "--ff-only");
    },
    head: () => git(admin, "rev-parse", "HEAD"),
  };
}

const read = (dir: string, path: string) => readFileSync(join(dir, path));
const identity = (who: string) => identitySetFrom(parseIdentityFile(readFileSync(ids[who] as string, "utf8"), who));
const recipientOf = async (who: string) => (await identity(who)).recipients[0] as string;

/** Replaces one recipient label by another in a sops YAML file, as a writer can with sed. */
function relabel(text: string, from: string, to: string): string {
  return text.split(`recipient: ${from}`).join(`recipient: ${to}`);
}

function expectNoSecret(...outputs: string[]) {
  for (const o of outputs) expect(o).not.toContain(PROD_SECRET);
}

describe("no confused deputy: a copied ciphertext is never re-keyed for its new path", () => {
  it("prod's config copied over a developer's own folder: access check names it, keys add and access sync leave it, alice never reads it", async () => {
    const w = world();
    const target = "shop/envs/dev/alice/config.sops.yaml";
    // Relabel prod-server as alice, so the labels look exactly like what dev/alice should have.
    const prod = read(w.attacker, PROD).toString("utf8");
    writeFileSync(join(w.attacker, target), relabel(prod, await recipientOf("prod-server"), await recipientOf("alice")));
    w.attackerPushes("dev/alice: my config");

    const check = await w.as("admin", ["access", "check", "--json"]);
    expect(check.exitCode).toBe(1);
    const drift = JSON.parse(out(check)).error.data.drift as { path: string; problems: string[] }[];
    expect(drift).toEqual([expect.objectContaining({ path: target, problems: [expect.stringContaining(`it was written for ${PROD}`)] })]);

    const before = read(w.admin, target);
    // A new developer: keys add re-wraps what carol may read, and leaves the copy alone.
    const { generateAgeKey } = await import("../../src/sops/age.js");
    const carol = await w.as("admin", ["keys", "add", "carol", "--key", (await generateAgeKey()).recipient, "--group", "developers", "--json"]);
    expect(carol.exitCode).toBe(1);
    expect(JSON.parse(out(carol)).error.data).toMatchObject({ refused: [{ path: target, code: "META_BINDING_MISMATCH" }], rewrapped: expect.arrayContaining(["shop/envs/dev/config.sops.yaml"]) });
    const sync = await w.as("admin", ["access", "sync", "--json"]);
    expect(sync.exitCode).toBe(1);
    expect(JSON.parse(out(sync)).error).toMatchObject({ code: "META_REKEY_INCOMPLETE", data: { refused: [{ path: target, code: "META_BINDING_MISMATCH" }] } });
    expect(read(w.admin, target).equals(before)).toBe(true);

    const asAlice = await w.as("alice", ["config", "show", "-p", "shop", "-e", "dev/alice", "--json"]);
    expect(asAlice.exitCode).not.toBe(0);
    expectNoSecret(out(asAlice), err(asAlice), out(check), out(sync));
  });

  it("prod's config copied over the project defaults, whose readers include prod's: keys add of a new developer does not hand it over", async () => {
    const w = world();
    const defaults = "shop/config.sops.yaml";
    // The defaults' readers (admin, alice, bob, ci, prod-server) include prod's: the copy looks plausible there.
    const text = read(w.attacker, PROD).toString("utf8");
    writeFileSync(join(w.attacker, defaults), text);
    w.attackerPushes("defaults: tidy up");
    const dave = await cli(["keys", "add", "dave", "--key", (await (await import("../../src/sops/age.js")).generateAgeKey()).recipient, "--group", "developers", "--meta", w.admin, "--json"], {
      env: { SOPS_AGE_KEY_FILE: ids.admin as string },
    });
    expect(dave.exitCode).toBe(1);
    const e = JSON.parse(out(dave)).error;
    expect(e.code).toBe("META_REKEY_INCOMPLETE");
    expect(e.data.refused).toEqual([expect.objectContaining({ path: defaults, code: "META_BINDING_MISMATCH" })]);
    // dave was still added, and every other file he may read was re-wrapped for him
    expect(e.data.rewrapped).toEqual(expect.arrayContaining(["shop/envs/dev/config.sops.yaml"]));
    expect(read(w.admin, defaults).toString("utf8")).toBe(text);
    // The loader refuses the moved layer rather than serve prod's values as defaults.
    const load = await w.as("prod-server", ["config", "show", "-p", "shop", "-e", "prod", "--json"]);
    expect(load.exitCode).not.toBe(0);
    expect(JSON.parse(out(load)).error.code).toBe("META_BINDING_MISMATCH");
  });

  it("a copy whose binding line was deleted fails its MAC: access sync refuses it", async () => {
    const w = world();
    const target = "shop/envs/dev/alice/config.sops.yaml";
    const prod = read(w.attacker, PROD).toString("utf8");
    const stripped = prod.split("\n").filter((l) => !l.startsWith("boot_meta_path_unencrypted:")).join("\n");
    expect(stripped).not.toBe(prod);
    writeFileSync(join(w.attacker, target), relabel(stripped, await recipientOf("prod-server"), await recipientOf("alice")));
    w.attackerPushes("dev/alice: config");
    const check = await w.as("admin", ["access", "check", "--verify", "--json"]);
    expect(JSON.parse(out(check)).error.data.drift[0].problems.join("\n")).toMatch(/not bound to its path[\s\S]*failed its integrity check/);
    const sync = await w.as("admin", ["access", "sync", "--json"]);
    expect(sync.exitCode).toBe(1);
    expect(JSON.parse(out(sync)).error.data.refused).toEqual([expect.objectContaining({ path: target, code: "SOPS_MAC_MISMATCH" })]);
  });

  it("a file from before bindings, copied and relabelled: it shares its data key with the original, so neither is bound without a review", async () => {
    const w = world();
    // The admin's prod config as an older boot-meta (or the sops CLI) wrote it: no binding.
    const plain = join(tempDir(), "prod.yaml");
    writeFileSync(plain, `payments:\n    api_key: ${PROD_SECRET}\n`);
    const enc = await cli(["encrypt", "--age", `${await recipientOf("admin")},${await recipientOf("prod-server")}`, plain]);
    expect(enc.exitCode, err(enc)).toBe(0);
    writeFileSync(join(w.admin, PROD), enc.stdout as Uint8Array);
    git(w.admin, "commit", "-qam", "prod config, written before bindings");
    git(w.admin, "push", "-q", "origin", "main");
    git(w.attacker, "pull", "-q", "--ff-only");
    const target = "shop/envs/dev/alice/config.sops.yaml";
    writeFileSync(join(w.attacker, target), relabel(read(w.attacker, PROD).toString("utf8"), await recipientOf("prod-server"), await recipientOf("alice")));
    w.attackerPushes("dev/alice: config");
    const sync = await w.as("admin", ["access", "sync", "--json"]);
    expect(sync.exitCode).toBe(1);
    const refused = JSON.parse(out(sync)).error.data.refused as { path: string; code: string }[];
    expect(refused).toEqual(expect.arrayContaining([expect.objectContaining({ path: target, code: "META_UNBOUND_COPY" })]));
    const admin = await identity("admin");
    const alice = await identity("alice");
    await expect(dataKeyOfBytes(read(w.admin, target), { format: "yaml", identities: alice, pgp: false })).rejects.toMatchObject({ code: "SOPS_DATA_KEY_UNAVAILABLE" });
    // After review the admin accepts the original: it is bound to prod and gets a data key of its own.
    const accept = await w.as("admin", ["access", "sync", "--accept", PROD, "--json"]);
    expect(JSON.parse(out(accept)).error.data).toMatchObject({ rotated: [PROD], bound: [PROD] });
    const k1 = await dataKeyOfBytes(read(w.admin, PROD), { format: "yaml", identities: admin, pgp: false });
    const k2 = await dataKeyOfBytes(read(w.admin, target), { format: "yaml", identities: admin, pgp: false });
    expect(Buffer.from(k1).equals(Buffer.from(k2))).toBe(false);
    expect(read(w.admin, PROD).toString("utf8")).toContain(`boot_meta_path_unencrypted: ${PROD}`);
  });

  it("the env a sealed record names cannot be removed or changed by someone who cannot open it", async () => {
    const w = world();
    const sealed = git(w.attacker, "ls-files", "shop/binaries").split("\n").find((p) => p.endsWith(".sops.json")) as string;
    expect(sealed).toBeTruthy();
    const text = read(w.attacker, sealed).toString("utf8");
    expect(text).toContain('"sealedEnv": "prod"');
    writeFileSync(join(w.attacker, sealed), text.replace('"sealedEnv": "prod"', '"sealedEnv": "dev"'));
    w.attackerPushes("binaries: fix env");
    const check = await w.as("admin", ["access", "check", "--json"]);
    expect(JSON.parse(out(check)).error.data.drift).toEqual([expect.objectContaining({ path: sealed, missing: ["alice", "bob"], extra: ["prod-server"] })]);
    const sync = await w.as("admin", ["access", "sync", "--json"]);
    expect(sync.exitCode).toBe(1);
    expect(JSON.parse(out(sync)).error.data.refused).toEqual([expect.objectContaining({ path: sealed, code: "SOPS_MAC_MISMATCH" })]);
    // Deleting the field (project readers) is caught the same way.
    writeFileSync(join(w.attacker, sealed), text.replace(/\s*"sealedEnv": "prod",?/, ""));
    w.attackerPushes("binaries: no env");
    const sync2 = await w.as("admin", ["access", "sync", "--json"]);
    expect(JSON.parse(out(sync2)).error.data.refused).toEqual([expect.objectContaining({ path: sealed, code: "SOPS_MAC_MISMATCH" })]);
    const which = await w.as("alice", ["binary", "which", sealed.replace(/^.*\/([0-9a-f]{64})\.sops\.json$/, "$1"), "--json"]);
    expectNoSecret(out(which), err(which));
    expect(out(which) + err(which)).not.toContain("demo-token");
  });

  it("a layer copied from another env is refused by the loader, not served", async () => {
    const w = world();
    // bob (a dev reader) puts the shared dev config over alice's own folder.
    writeFileSync(join(w.attacker, "shop/envs/dev/alice/config.sops.yaml"), read(w.attacker, "shop/envs/dev/config.sops.yaml"));
    w.attackerPushes("dev/alice: reset");
    const r = await w.as("alice", ["config", "show", "-p", "shop", "-e", "dev/alice", "--json"]);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(out(r)).error).toMatchObject({ code: "META_BINDING_MISMATCH", data: { file: "shop/envs/dev/alice/config.sops.yaml", boundTo: "shop/envs/dev/config.sops.yaml" } });
  });

  it("an admin's config set refuses a file encrypted to more people than the rules give it", async () => {
    const w = world();
    const plain = join(tempDir(), "p.yaml");
    writeFileSync(plain, "payments:\n    api_key: placeholder\n");
    const r3 = `${await recipientOf("admin")},${await recipientOf("prod-server")},${await recipientOf("alice")}`;
    const enc = await cli(["encrypt", "--age", r3, plain]);
    writeFileSync(join(w.attacker, PROD), enc.stdout as Uint8Array);
    w.attackerPushes("prod: reset");
    const head = w.head();
    const set = await w.as("admin", ["config", "set", "payments.api_key", "sk_live_real", "-p", "shop", "-e", "prod", "--json"]);
    expect(set.exitCode).toBe(1);
    expect(JSON.parse(out(set)).error).toMatchObject({ code: "META_UNSAFE_TO_WRITE", message: expect.stringContaining("alice") });
    expect(w.head()).toBe(head);
    expect(git(w.admin, "status", "--porcelain")).toBe("");
  });
});

describe("what labels hide is drift, and removal rotates whatever the labels say", () => {
  it("an extra stanza inside another reader's entry, and a relabelled entry, do not survive keys remove", async () => {
    const w = world();
    const dev = "shop/envs/dev/config.sops.yaml";
    const alice = await identity("alice");
    const dataKey = await dataKeyOfBytes(read(w.attacker, dev), { format: "yaml", identities: alice, pgp: false });
    // alice hides a wrap of the data key for herself inside admin's entry...
    const e = new Encrypter();
    e.addRecipient(await recipientOf("admin"));
    e.addRecipient(await recipientOf("alice"));
    const twoStanzas = armor.encode(await e.encrypt(dataKey));
    let text = read(w.attacker, dev).toString("utf8");
    const adminRecipient = await recipientOf("admin");
    // sops writes each entry as `- enc: |` (the armored age file, indented) then `recipient:`.
    const m = new RegExp(`- enc: \\|\\n((?: {12}.+\\n)+) {10}recipient: ${adminRecipient}`).exec(text);
    expect(m).toBeTruthy();
    text = text.replace(m?.[1] as string, `${twoStanzas.trimEnd().split("\n").map((l) => `            ${l}`).join("\n")}\n`);
    // ...and relabels her own entry as bob's, so a removal by label would miss it.
    text = relabel(text, await recipientOf("alice"), await recipientOf("bob"));
    writeFileSync(join(w.attacker, dev), text);
    w.attackerPushes("dev: tidy");
    const check = await w.as("admin", ["access", "check", "--json"]);
    const problems = (JSON.parse(out(check)).error.data.drift as { path: string; problems: string[] }[]).find((d) => d.path === dev)?.problems.join("\n");
    expect(problems).toMatch(/labelled admin holds 2 age stanzas/);
    expect(problems).toMatch(/bob has more than one entry/);
    const rm = await w.as("admin", ["keys", "remove", "alice", "--json"]);
    expect(rm.exitCode, err(rm)).toBe(0);
    expect(JSON.parse(out(rm)).rotated).toEqual(expect.arrayContaining([dev, "shop/config.sops.yaml", "shop/envs/dev/alice/config.sops.yaml"]));
    await expect(dataKeyOfBytes(read(w.admin, dev), { format: "yaml", identities: alice, pgp: false })).rejects.toMatchObject({ code: "SOPS_DATA_KEY_UNAVAILABLE" });
    const after = await w.as("admin", ["access", "check", "--json"]);
    expect(after.exitCode, out(after)).toBe(0);
  });

  it("PGP keys and extra key groups that no rule asks for are drift, and access sync removes them", async () => {
    const w = world();
    const stage = "shop/envs/stage/config.sops.yaml";
    const text = read(w.attacker, stage).toString("utf8");
    writeFileSync(join(w.attacker, stage), text.replace("\nsops:\n", '\nsops:\n    pgp:\n        - created_at: "2026-01-01T00:00:00Z"\n          enc: not-a-real-pgp-message\n          fp: 0123456789ABCDEF0123456789ABCDEF01234567\n'));
    w.attackerPushes("stage: add my pgp key");
    const check = await w.as("admin", ["access", "check", "--json"]);
    expect(JSON.parse(out(check)).error.data.drift).toEqual([expect.objectContaining({ path: stage, problems: [expect.stringContaining("PGP key (0123456789ABCDEF")] })]);
    const sync = await w.as("admin", ["access", "sync", "--json"]);
    expect(sync.exitCode, out(sync)).toBe(0);
    expect(JSON.parse(out(sync)).rotated).toEqual([stage]);
    expect(read(w.admin, stage).toString("utf8")).not.toContain("pgp:");
    expect((await w.as("admin", ["access", "check"])).exitCode).toBe(0);
  });
});

describe("everything encrypted is governed", () => {
  it("a second SOPS file in an env folder is listed, re-wrapped for a new reader and rotated on removal", async () => {
    const w = world();
    const tls = "shop/envs/prod/tls.sops.yaml";
    writeFileSync(join(w.admin, tls), "cert: -----BEGIN CERTIFICATE----- demo\n");
    // The sops verb picks the recipients from the generated .sops.yaml, as the sops CLI would.
    const enc = await w.as("admin", ["encrypt", "--in-place", join(w.admin, tls)], { cwd: w.admin });
    expect(enc.exitCode, err(enc)).toBe(0);
    git(w.admin, "add", tls);
    git(w.admin, "commit", "-qm", "prod: tls");
    expect(out(await w.as("admin", ["access", "show"]))).toContain(tls);
    const p2 = join(tempDir(), "p2.txt");
    const { generateAgeKey } = await import("../../src/sops/age.js");
    const k = await generateAgeKey();
    writeFileSync(p2, `${k.identity}\n`);
    const add = await w.as("admin", ["keys", "add", "prod-2", "--key", k.recipient, "--group", "prod-servers", "--json"]);
    expect(add.exitCode, out(add)).toBe(0);
    expect(JSON.parse(out(add))).toMatchObject({ rewrapped: expect.arrayContaining([PROD, tls]), bound: expect.arrayContaining([tls]) });
    const asP2 = await cli(["decrypt", join(w.admin, tls)], { env: { SOPS_AGE_KEY_FILE: p2 } });
    expect(out(asP2)).toContain("BEGIN CERTIFICATE");
    const rm = await w.as("admin", ["keys", "remove", "prod-2", "--json"]);
    expect(JSON.parse(out(rm)).rotated).toEqual(expect.arrayContaining([PROD, tls]));
    expect((await cli(["decrypt", join(w.admin, tls)], { env: { SOPS_AGE_KEY_FILE: p2 } })).exitCode).not.toBe(0);
  });

  it("a dotenv file in an env folder is governed but never re-keyed blind: it cannot carry a binding", async () => {
    const w = world();
    const envFile = "shop/envs/prod/app.env";
    writeFileSync(join(w.admin, envFile), "DB_PASSWORD=hunter2\n");
    const enc = await w.as("admin", ["encrypt", "--in-place", join(w.admin, envFile)], { cwd: w.admin });
    expect(enc.exitCode, err(enc)).toBe(0);
    git(w.admin, "add", envFile);
    git(w.admin, "commit", "-qm", "prod: app.env");
    // Already what the rules say: nothing to do, and no drift.
    expect((await w.as("admin", ["access", "check"])).exitCode).toBe(0);
    const { generateAgeKey } = await import("../../src/sops/age.js");
    expect((await w.as("admin", ["keys", "add", "dave", "--key", (await generateAgeKey()).recipient, "--group", "developers"])).exitCode).toBe(0);
    // Rotating it to fresh recipients would trust its labels: it is listed for a human instead.
    const rm = await w.as("admin", ["keys", "remove", "prod-server", "--json"]);
    expect(rm.exitCode).toBe(1);
    const e = JSON.parse(out(rm)).error;
    expect(e.data.refused).toEqual([expect.objectContaining({ path: envFile, code: "META_UNBINDABLE" })]);
    expect(e.data.rotated).toEqual(expect.arrayContaining([PROD]));
  });

  it("the generated .sops.yaml routes no path that nothing governs", async () => {
    const w = world();
    const { mkdirSync } = await import("node:fs");
    for (const path of ["shop/notes.sops.yaml", "shop/releases/secret.sops.yaml", "shop/channels/config.sops.yaml", "elsewhere/config.sops.yaml", "config.sops.yaml"]) {
      const file = join(w.admin, path);
      mkdirSync(join(file, ".."), { recursive: true });
      writeFileSync(file, "k: v\n");
      const r = await w.as("admin", ["encrypt", file], { cwd: w.admin });
      expect(r.exitCode, `${path}: ${err(r)}`).toBe(202);
    }
  });
});

describe("drift detection sees what is really there", () => {
  it("a check that examined nothing is not a success", async () => {
    const meta = join(tempDir(), "meta");
    expect((await cli(["init", meta])).exitCode).toBe(0);
    const r = await cli(["access", "check", "--meta", meta, "--json"]);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(out(r)).error.code).toBe("ACCESS_NOTHING_CHECKED");
  });

  it("uncommitted edits to the rules are refused with a clear message, never silently ignored", async () => {
    const w = world();
    const rules = join(w.admin, ".boot-meta.yaml");
    writeFileSync(rules, readFileSync(rules, "utf8").replace("prod:\n      - admins\n      - prod-servers", "prod:\n      - admins\n      - prod-servers\n      - ci"));
    const head = w.head();
    for (const args of [["access", "sync"], ["access", "check"], ["keys", "remove", "bob"]]) {
      const r = await w.as("admin", [...args, "--json"]);
      expect(r.exitCode, args.join(" ")).toBe(1);
      expect(JSON.parse(out(r)).error).toMatchObject({ code: "META_UNCOMMITTED_ACCESS_EDITS", data: { files: [".boot-meta.yaml"] } });
    }
    expect(w.head()).toBe(head);
    git(w.admin, "commit", "-qam", "prod: ci reads it too");
    const sync = await w.as("admin", ["access", "sync", "--json"]);
    expect(sync.exitCode, out(sync)).toBe(0);
    // prod's config and the build sealed to prod
    expect(JSON.parse(out(sync)).rewrapped).toEqual([PROD, expect.stringMatching(/^shop\/binaries\/.+\.sops\.json$/)]);
  });
});

describe("revocation cannot be blocked", () => {
  it("a file only its writer can open, and a damaged one, do not stop keys remove", async () => {
    const w = world();
    const plain = join(tempDir(), "x.yaml");
    writeFileSync(plain, "mine: yes\n");
    const enc = await cli(["encrypt", "--age", await recipientOf("alice"), plain]);
    writeFileSync(join(w.attacker, "shop/envs/dev/notes.sops.yaml"), enc.stdout as Uint8Array);
    writeFileSync(join(w.attacker, "shop/envs/dev/bob/broken.sops.yaml"), "a: ENC[AES256_GCM,data:xx\nsops: [\n");
    w.attackerPushes("dev: notes");
    const rm = await w.as("admin", ["keys", "remove", "bob", "--json"]);
    expect(rm.exitCode).toBe(1);
    const e = JSON.parse(out(rm)).error;
    expect(e.code).toBe("META_REKEY_INCOMPLETE");
    expect(e.data.refused.map((r: { path: string }) => r.path).sort()).toEqual(["shop/envs/dev/bob/broken.sops.yaml", "shop/envs/dev/notes.sops.yaml"]);
    expect(e.data.rotated).toEqual(expect.arrayContaining(["shop/config.sops.yaml", "shop/envs/dev/config.sops.yaml", "shop/envs/dev/bob/config.sops.yaml"]));
    expect(git(w.admin, "ls-files", "keys/bob.txt")).toBe("");
    expect(readFileSync(join(w.admin, ".boot-meta.yaml"), "utf8")).not.toMatch(/- bob$/m);
    const bob = await identity("bob");
    await expect(dataKeyOfBytes(read(w.admin, "shop/envs/dev/config.sops.yaml"), { format: "yaml", identities: bob, pgp: false })).rejects.toMatchObject({ code: "SOPS_DATA_KEY_UNAVAILABLE" });
  });

  it("a removal that would leave a file with no reader is refused whole, naming the files", async () => {
    const w = world();
    const rules = join(w.admin, ".boot-meta.yaml");
    writeFileSync(rules, readFileSync(rules, "utf8").replace("stage:\n      - admins\n      - ci", "stage:\n      - ci"));
    git(w.admin, "commit", "-qam", "stage: ci only");
    const sync = await w.as("admin", ["access", "sync", "--json"]);
    expect(sync.exitCode, out(sync)).toBe(0);
    const before = w.head();
    const rm = await w.as("admin", ["keys", "remove", "ci", "--json"]);
    expect(rm.exitCode).toBe(1);
    expect(JSON.parse(out(rm)).error).toMatchObject({ code: "META_NO_READER_LEFT", data: { files: expect.arrayContaining(["shop/envs/stage/config.sops.yaml"]) } });
    expect(w.head()).toBe(before);
  });
});
