import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { addKey, createEnv, createProject, initRepo } from "../../src/meta/repo.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

/**
 * Signed, policy-checked history, played through the CLI on real repositories with git's own
 * SSH signing: each principal signs with an ed25519 key made here (test-only), whose
 * `ssh-ed25519` line sits in keys/<principal>.txt beside their age key.
 */
interface Actor {
  name: string;
  keyFile: string;
  sshLine: string;
}

function sshKey(name: string): Actor {
  const dir = tempDir("boot-meta-ssh-");
  const keyFile = join(dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@test (test-only key)`, "-f", keyFile]);
  const sshLine = readFileSync(`${keyFile}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
  return { name, keyFile, sshLine };
}

/** Commits everything staged in `dir` as `who` (signed with their key), or unsigned when `who` is undefined. */
function commitAs(dir: string, who: Actor | undefined, message: string): string {
  const sign = who ? ["-c", "gpg.format=ssh", "-c", `user.signingkey=${who.keyFile}`, "commit", "-q", "-S"] : ["commit", "-q", "--no-gpg-sign"];
  git(dir, "add", "-A");
  git(dir, ...sign, "-m", message);
  return git(dir, "rev-parse", "HEAD");
}

/** Runs a boot-meta write in `dir` with its commit signed as `who` (git's commit.gpgSign), or unsigned when `who` is undefined. */
async function signedAs<T>(dir: string, who: Actor | undefined, write: () => Promise<T>): Promise<T> {
  if (who) {
    git(dir, "config", "commit.gpgsign", "true");
    git(dir, "config", "user.signingkey", who.keyFile);
  }
  try {
    return await write();
  } finally {
    if (who) git(dir, "config", "--unset", "commit.gpgsign");
  }
}

function write(dir: string, path: string, text: string): void {
  mkdirSync(join(dir, path, ".."), { recursive: true });
  writeFileSync(join(dir, path), text);
}

const cli = cliWith();
let admin: Actor;
let alice: Actor;
let ci: Actor;
let stranger: Actor;

beforeAll(() => {
  admin = sshKey("admin");
  alice = sshKey("alice");
  ci = sshKey("ci");
  stranger = sshKey("stranger");
});

/**
 * A meta repo whose trust root is the commit that added the admin's key, set up by the admin with boot-meta's own
 * verbs (so boot-meta's commits are signed through git's commit.gpgSign), with alice a
 * developer and ci in ci: shop with dev, stage and prod.
 */
async function signedRepo(): Promise<{ dir: string; root: string; adminKey: string }> {
  // Built once (eight signed commits) and copied for each test: each gets a repository of its own.
  template ??= buildSignedRepo();
  const t = await template;
  const dir = join(tempDir(), "meta");
  cpSync(t.dir, dir, { recursive: true });
  return { ...t, dir };
}
let template: Promise<{ dir: string; root: string; adminKey: string }> | undefined;

async function buildSignedRepo() {
  const dir = join(tempDir(), "meta");
  await initRepo(dir);
  git(dir, "config", "gpg.format", "ssh");
  git(dir, "config", "user.signingkey", admin.keyFile);
  git(dir, "config", "commit.gpgsign", "true");
  const keys = { admin: await generateAgeKey(), alice: await generateAgeKey(), ci: await generateAgeKey() };
  const ids = await identitySetFrom([keys.admin.identity]);
  // The trust root: the first commit whose keys/ holds an admin's signing key.
  const root = (await addKey(dir, "admin", [keys.admin.recipient, admin.sshLine], { group: "admins", identities: ids })).commit as string;
  await addKey(dir, "alice", [keys.alice.recipient, alice.sshLine], { group: "developers", identities: ids });
  await addKey(dir, "ci", [keys.ci.recipient, ci.sshLine], { group: "ci", identities: ids });
  await createProject(dir, "shop");
  for (const e of ["dev", "stage", "prod"]) await createEnv(dir, "shop", e);

  git(dir, "config", "--unset", "commit.gpgsign");
  return { dir, root, adminKey: keys.admin.identity };
}

const verify = (dir: string, ...args: string[]) => cli(["verify", "--meta", dir, ...args, "--json"]);

describe("boot-meta verify", () => {
  it("passes a history the admin signed from the trust root, and checks only new commits next time", async () => {
    const { dir, root } = await signedRepo();
    const r = await verify(dir, "--from", root);
    expect(r.exitCode, err(r) + out(r)).toBe(0);
    const first = JSON.parse(out(r));
    expect(first).toMatchObject({ ok: true, root, head: git(dir, "rev-parse", "HEAD") });
    expect(first.checked).toBeGreaterThan(5);
    write(dir, "shop/envs/dev/notes.txt", "alice's dev note\n");
    commitAs(dir, alice, "alice writes in dev");
    const again = JSON.parse(out(await verify(dir, "--from", root)));
    expect(again.checked).toBe(1);
  });

  it("refuses an unsigned commit, naming it", async () => {
    const { dir, root } = await signedRepo();
    write(dir, "shop/envs/dev/x.txt", "x\n");
    const bad = commitAs(dir, undefined, "unsigned");
    const r = await verify(dir, "--from", root);
    expect(r.exitCode).toBe(1);
    const e = JSON.parse(out(r)).error;
    expect(e.code).toBe("VERIFY_FAILED");
    expect(e.data).toMatchObject({ commit: bad, reason: "unsigned" });
    expect(e.message).toContain(bad.slice(0, 12));
  });

  it("refuses a commit signed by a key that is not in keys/", async () => {
    const { dir, root } = await signedRepo();
    write(dir, "shop/envs/dev/x.txt", "x\n");
    const bad = commitAs(dir, stranger, "who is this");
    const e = JSON.parse(out(await verify(dir, "--from", root))).error;
    expect(e.data).toMatchObject({ commit: bad, reason: "unknown-signer" });
    expect(e.message).toMatch(/SHA256:/);
  });

  it("refuses a developer's signed change to prod's config, and to the project defaults prod inherits", async () => {
    const { dir, root } = await signedRepo();
    write(dir, "shop/envs/prod/config.sops.yaml", "database: evil.example\n");
    const bad = commitAs(dir, alice, "point prod at my host");
    const e = JSON.parse(out(await verify(dir, "--from", root))).error;
    expect(e.data).toMatchObject({ commit: bad, reason: "not-allowed", signer: "alice", path: "shop/envs/prod/config.sops.yaml" });
    expect(e.data.rule).toMatch(/^write\.envs\.prod/);
    expect(e.data.verified).toBe(git(dir, "rev-parse", "HEAD~1"));

    const other = await signedRepo();
    write(other.dir, "shop/config.sops.yaml", "database: evil.example\n");
    commitAs(other.dir, alice, "change the defaults");
    const d = JSON.parse(out(await verify(other.dir, "--from", other.root))).error;
    expect(d.data).toMatchObject({ reason: "not-allowed", signer: "alice", path: "shop/config.sops.yaml" });
  });

  it("lets ci record a release but not change a config file", async () => {
    const { dir, root } = await signedRepo();
    write(dir, "shop/releases/2026/r1.json", "{}\n");
    commitAs(dir, ci, "release r1");
    expect((await verify(dir, "--from", root)).exitCode).toBe(0);
    write(dir, "shop/envs/prod/config.sops.yaml", "x: 1\n");
    const bad = commitAs(dir, ci, "ci edits prod");
    expect(JSON.parse(out(await verify(dir, "--from", root))).error.data).toMatchObject({ commit: bad, reason: "not-allowed", signer: "ci" });
  });

  it("judges a change to the write rules by the rules before it: a developer cannot give themselves prod", async () => {
    const { dir, root } = await signedRepo();
    const rules = readFileSync(join(dir, ".boot-meta.yaml"), "utf8");
    write(dir, ".boot-meta.yaml", `${rules}write:\n  envs:\n    prod: [admins, developers]\n`);
    const bad = commitAs(dir, alice, "let developers write prod");
    write(dir, "shop/envs/prod/config.sops.yaml", "x: 1\n");
    commitAs(dir, alice, "and now write prod");
    expect(JSON.parse(out(await verify(dir, "--from", root))).error.data).toMatchObject({ commit: bad, reason: "not-allowed", path: ".boot-meta.yaml" });
  });

  it("accepts the same changes made by allowed signers, and rules an admin signed", async () => {
    const { dir, root } = await signedRepo();
    const rules = readFileSync(join(dir, ".boot-meta.yaml"), "utf8");
    write(dir, ".boot-meta.yaml", `${rules}write:\n  envs:\n    prod: [admins, developers]\n`);
    commitAs(dir, admin, "admins let developers write prod");
    write(dir, "shop/envs/prod/config.sops.yaml", "x: 1\n");
    commitAs(dir, alice, "alice writes prod, as the new rule allows");
    const r = await verify(dir, "--from", root);
    expect(r.exitCode, out(r)).toBe(0);
  });

  it("judges a merge against each parent", async () => {
    const { dir, root } = await signedRepo();
    git(dir, "checkout", "-q", "-b", "side");
    write(dir, "shop/envs/prod/config.sops.yaml", "x: 1\n");
    commitAs(dir, admin, "admin changes prod on a branch");
    git(dir, "checkout", "-q", "main");
    write(dir, "shop/envs/dev/y.txt", "y\n");
    commitAs(dir, alice, "alice changes dev");
    // alice merges: against main's parent, the merge brings prod's change, which she may not make.
    git(dir, "-c", "gpg.format=ssh", "-c", `user.signingkey=${alice.keyFile}`, "merge", "-q", "-S", "--no-ff", "-m", "merge side", "side");
    const merge = git(dir, "rev-parse", "HEAD");
    expect(JSON.parse(out(await verify(dir, "--from", root))).error.data).toMatchObject({ commit: merge, reason: "not-allowed", signer: "alice", path: "shop/envs/prod/config.sops.yaml" });
  });

  it("after a verified run, still checks a side branch from before it that a merge brings in", async () => {
    const { dir, root } = await signedRepo();
    const early = git(dir, "rev-parse", "HEAD~2");
    expect((await verify(dir, "--from", root)).exitCode).toBe(0);
    git(dir, "checkout", "-q", "-b", "side", early);
    write(dir, "shop/envs/dev/side.txt", "side\n");
    const unsigned = commitAs(dir, undefined, "unsigned, on a branch from before the last verified commit");
    git(dir, "checkout", "-q", "main");
    git(dir, "-c", "gpg.format=ssh", "-c", `user.signingkey=${admin.keyFile}`, "merge", "-q", "-S", "--no-ff", "-m", "merge side", "side");
    expect(JSON.parse(out(await verify(dir, "--from", root))).error.data).toMatchObject({ commit: unsigned, reason: "unsigned" });
  });

  it("a key taken out of keys/ signs nothing from the next commit on", async () => {
    const { dir, root } = await signedRepo();
    write(dir, "shop/envs/dev/a.txt", "a\n");
    commitAs(dir, alice, "alice writes dev");
    const keys = readFileSync(join(dir, "keys/alice.txt"), "utf8");
    write(dir, "keys/alice.txt", keys.split("\n").filter((l) => !l.startsWith("ssh-ed25519 ")).join("\n"));
    commitAs(dir, admin, "alice's signing key is revoked");
    write(dir, "shop/envs/dev/b.txt", "b\n");
    const after = commitAs(dir, alice, "alice writes dev again");
    expect(JSON.parse(out(await verify(dir, "--from", root))).error.data).toMatchObject({ commit: after, reason: "unknown-signer" });
  });

  it("detects a force-push that rewrote history past the trust root", async () => {
    const { dir } = await signedRepo();
    const trusted = git(dir, "rev-parse", "HEAD");
    git(dir, "reset", "-q", "--hard", "HEAD~2");
    write(dir, "shop/envs/dev/z.txt", "z\n");
    commitAs(dir, admin, "rewritten");
    const e = JSON.parse(out(await verify(dir, "--from", trusted))).error;
    expect(e.data).toMatchObject({ reason: "rewritten" });
  });

  it("needs a trust root, and says where to give one", async () => {
    const { dir } = await signedRepo();
    const r = await verify(dir);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(out(r)).error.code).toBe("VERIFY_NO_ROOT");
    const u = await verify(dir, "--from", "0000000000000000000000000000000000000000");
    expect(JSON.parse(out(u)).error.code).toBe("VERIFY_UNKNOWN_ROOT");
  });

  it("stock git verifies the same signatures with the allowed_signers boot-meta's keys give", async () => {
    const { dir } = await signedRepo();
    const allowed = join(tempDir(), "allowed_signers");
    writeFileSync(allowed, `admin ${admin.sshLine}\n`);
    expect(() => git(dir, "-c", `gpg.ssh.allowedSignersFile=${allowed}`, "verify-commit", "HEAD")).not.toThrow();
  });
});

describe("loadConfig with a trust root", () => {
  it("reads a layer changed by someone not allowed at its last trusted version, says so, and trusts it again once an allowed signer changes it", async () => {
    const { dir, root, adminKey } = await signedRepo();
    const { setConfigValue } = await import("../../src/config/edit.js");
    const { loadConfig } = await import("../../src/config/loader.js");
    const ids = await identitySetFrom([adminKey]);
    const as = (who: Actor, value: string) => signedAs(dir, who, () => setConfigValue(dir, { project: "shop", env: "prod" }, "database", value, { identities: ids }));
    await as(admin, "db.internal");
    // alice (a developer, not a writer of prod) points prod at her host; she also tries to
    // give developers prod in the rules first — a tainted rule grants nothing.
    const rules = readFileSync(join(dir, ".boot-meta.yaml"), "utf8");
    write(dir, ".boot-meta.yaml", `${rules}write:\n  envs:\n    prod: [admins, developers]\n`);
    commitAs(dir, alice, "developers write prod");
    await as(alice, "evil.example");
    const bad = git(dir, "rev-parse", "HEAD");
    const warnings: { code: string; message: string }[] = [];
    const load = () => loadConfig({ repo: dir, project: "shop", env: "prod", identities: [adminKey], trustRoot: root, onWarning: (w) => warnings.push(w), environment: {} });
    const c = await load();
    expect(c.config.database).toBe("db.internal");
    expect(c.commit).toBe(bad);
    expect(c.untrusted).toEqual([expect.objectContaining({ path: "shop/envs/prod/config.sops.yaml", commit: bad, reason: "not-allowed" })]);
    expect(warnings.map((w) => w.code)).toEqual(["CONFIG_UNVERIFIED"]);
    // Without a trust root the loader reads what is committed, as before.
    expect((await loadConfig({ repo: dir, project: "shop", env: "prod", identities: [adminKey], environment: {} })).config.database).toBe("evil.example");
    // The admin sets it again: trusted from there on.
    await as(admin, "db2.internal");
    warnings.length = 0;
    const again = await load();
    expect(again.config.database).toBe("db2.internal");
    expect(again.untrusted).toEqual([]);
    expect(warnings).toEqual([]);
  });
});

describe("trustedView's rejected changes", () => {
  it("remembers each change made without the right by commit and path, after the path is trusted again and across resumed walks", async () => {
    const { dir, root } = await signedRepo();
    const { trustedView, rejectedChange } = await import("../../src/meta/verify.js");
    const path = "shop/channels/stable.json";
    write(dir, path, '{"releaseId": "a"}\n');
    const allowed = commitAs(dir, admin, "admin writes the channel");
    write(dir, path, '{"releaseId": "b"}\n');
    const forged = commitAs(dir, stranger, "a stranger moves it");
    const mid = await trustedView(dir, { root });
    expect(rejectedChange(mid, forged, path)).toMatchObject({ commit: forged, reason: "unknown-signer" });
    write(dir, path, '{"releaseId": "c"}\n');
    commitAs(dir, admin, "admin moves it again");
    // Resumed from the saved view: the path is trusted again, the forged change is still known as one.
    const view = await trustedView(dir, { root });
    expect(view.tainted.has(path)).toBe(false);
    expect(rejectedChange(view, forged, path)).toMatchObject({ commit: forged, message: expect.stringMatching(/^commit [0-9a-f]{12}: /) });
    expect(rejectedChange(view, allowed, path)).toBeUndefined();
    expect(rejectedChange(view, forged, "shop/channels/other.json")).toBeUndefined();
    // A view saved before rejected changes were kept is walked again from the root, not trusted blind.
    const saved = join(git(dir, "rev-parse", "--path-format=absolute", "--git-common-dir"), "boot-meta", "views", root);
    const old = JSON.parse(readFileSync(saved, "utf8")) as { head: string; tainted: unknown; rejected?: unknown };
    delete old.rejected;
    writeFileSync(saved, JSON.stringify(old));
    expect(rejectedChange(await trustedView(dir, { root }), forged, path)).toMatchObject({ commit: forged });
  });
});

describe("watchConfig with a trust root", () => {
  it("does not hand the app a change made by someone not allowed, and does hand it the allowed one after", async () => {
    const { dir, root, adminKey } = await signedRepo();
    const { setConfigValue } = await import("../../src/config/edit.js");
    const { watchConfig } = await import("../../src/config/watch.js");
    const ids = await identitySetFrom([adminKey]);
    const as = (who: Actor, value: string) => signedAs(dir, who, () => setConfigValue(dir, { project: "shop", env: "prod" }, "database", value, { identities: ids }));
    await as(admin, "db.internal");
    const updates: string[] = [];
    const warnings: string[] = [];
    let seen!: () => void;
    const allowedSeen = new Promise<void>((resolve) => (seen = resolve));
    const w = await watchConfig({
      repo: dir,
      project: "shop",
      env: "prod",
      identities: [adminKey],
      trustRoot: root,
      pollIntervalMs: 100,
      environment: {},
      onWarning: (x) => warnings.push(x.code),
      onUpdate: ({ newConfig }) => {
        updates.push(String(newConfig.config.database));
        if (newConfig.config.database === "db2.internal") seen();
      },
    });
    try {
      expect(w.config.database).toBe("db.internal");
      await as(alice, "evil.example");
      await as(admin, "db2.internal");
      await allowedSeen;
      // alice's value never reached the app: the first update is the admin's.
      expect(updates).toEqual(["db2.internal"]);
    } finally {
      await w.unwatch();
    }
  });
});

describe("serve with a trust root", () => {
  it("does not honour a token a non-admin minted, and does honour an admin's", async () => {
    const { Mirror } = await import("../../src/server/mirror.js");
    const { createApp } = await import("../../src/server/app.js");
    const { createToken } = await import("../../src/records/tokens.js");
    const { dir, root } = await signedRepo();
    const mint = async (who: Actor) => (await signedAs(dir, who, () => createToken(dir, "alice", { scopes: ["instances:read"], projects: ["shop"] }))).value.token;
    const forged = await mint(alice);
    const granted = await mint(admin);
    const mirror = new Mirror({ source: dir, cacheDir: tempDir(), trustRoot: root, environment: {} });
    await mirror.sync();
    const app = createApp({ mirror });
    try {
      const get = (token: string) => app.inject({ url: "/v1/projects/shop/instances", headers: { authorization: `Bearer ${token}` } });
      const refused = await get(forged);
      expect(refused.statusCode).toBe(401);
      expect(refused.body).not.toContain(forged);
      expect((await get(granted)).statusCode).toBe(200);
    } finally {
      await app.close();
      await mirror.close();
    }
  });

  it("serves a layer changed by someone not allowed at its last trusted version, and says so in /readyz and /metrics", async () => {
    const { Mirror } = await import("../../src/server/mirror.js");
    const { createApp } = await import("../../src/server/app.js");
    const { dir, root } = await signedRepo();
    write(dir, "shop/envs/prod/config.sops.yaml", "trusted: 1\n");
    const good = commitAs(dir, admin, "admin writes prod");
    write(dir, "shop/envs/prod/config.sops.yaml", "evil: 1\n");
    const bad = commitAs(dir, alice, "alice writes prod");
    const mirror = new Mirror({ source: dir, cacheDir: tempDir(), trustRoot: root, environment: {} });
    await mirror.sync();
    const app = createApp({ mirror });
    try {
      const r = (await app.inject("/v1/projects/shop/config?env=prod")).json();
      const prod = r.layers.find((l: { name: string }) => l.name === "env");
      expect(r.commit).toBe(bad);
      expect(prod.content).toBe("trusted: 1\n");
      expect(prod.blob).toBe(git(dir, "rev-parse", `${good}:shop/envs/prod/config.sops.yaml`));
      expect(prod.untrusted).toMatchObject({ commit: bad, reason: "not-allowed" });
      expect((await app.inject("/readyz")).json().untrusted).toEqual([expect.objectContaining({ path: "shop/envs/prod/config.sops.yaml", commit: bad })]);
      expect((await app.inject("/metrics")).body).toMatch(/bootmeta_untrusted_paths 1/);
    } finally {
      await app.close();
      await mirror.close();
    }
  });
});

describe("a quorum of admins (write.quorum.admin)", () => {
  /** signedRepo with a second admin, carol, and a rule that admin-area changes need two admins. */
  async function quorumRepo() {
    const r = await signedRepo();
    const carol = sshKey("carol");
    const rules = readFileSync(join(r.dir, ".boot-meta.yaml"), "utf8");
    expect(rules).toContain("  admins:\n    - admin\n");
    write(r.dir, ".boot-meta.yaml", `${rules.replace("  admins:\n    - admin\n", "  admins:\n    - admin\n    - carol\n")}write:\n  quorum:\n    admin: 2\n`);
    write(r.dir, "keys/carol.txt", `${carol.sshLine}\n`);
    // One admin may still do this: the rules in force at its parent ask for no quorum.
    commitAs(r.dir, admin, "carol joins the admins; admin-area changes need two admins from now on");
    return { ...r, carol };
  }

  it("refuses an admin-area change one admin made alone, naming the quorum", async () => {
    const { dir, root } = await quorumRepo();
    write(dir, "keys/dave.txt", `${stranger.sshLine}\n`);
    const bad = commitAs(dir, admin, "admin adds dave alone");
    const e = JSON.parse(out(await verify(dir, "--from", root))).error;
    expect(e.data).toMatchObject({ commit: bad, reason: "not-enough-approvals", signer: "admin", path: "keys/dave.txt" });
    expect(e.message).toMatch(/needs 2 admins.*has 1 \(admin\)/);
  });

  it("accepts it with another admin's signed approval of exactly that change, made before it", async () => {
    const { dir, root, carol } = await quorumRepo();
    git(dir, "checkout", "-q", "-b", "proposal");
    write(dir, "keys/dave.txt", `${stranger.sshLine}\n`);
    commitAs(dir, admin, "admin proposes dave");
    git(dir, "checkout", "-q", "main");
    // carol approves through the CLI, her commit signed with her key.
    git(dir, "config", "commit.gpgsign", "true");
    git(dir, "config", "user.signingkey", carol.keyFile);
    const a = await cli(["approve", "proposal", "--as", "carol", "--meta", dir, "--json"]);
    expect(a.exitCode, err(a)).toBe(0);
    expect(JSON.parse(out(a))).toMatchObject({ paths: ["keys/dave.txt"], path: expect.stringMatching(/^approvals\/admin\/[0-9a-f]{64}\/carol\.json$/) });
    // The proposal goes on top of the approval (re-signed by admin as it is rebased).
    git(dir, "config", "user.signingkey", admin.keyFile);
    git(dir, "checkout", "-q", "proposal");
    git(dir, "rebase", "-q", "main");
    git(dir, "config", "--unset", "commit.gpgsign");
    const r = await verify(dir, "--from", root, "--to", "proposal");
    expect(r.exitCode, out(r)).toBe(0);
  });

  it("does not count an approval written in another admin's name, nor one for other content", async () => {
    const { dir, root } = await quorumRepo();
    git(dir, "checkout", "-q", "-b", "proposal");
    write(dir, "keys/dave.txt", `${stranger.sshLine}\n`);
    commitAs(dir, admin, "admin proposes dave");
    const { adminChangeOf } = await import("../../src/meta/verify.js");
    const { change } = await adminChangeOf(dir, "proposal");
    git(dir, "checkout", "-q", "main");
    // alice writes carol's approval herself.
    write(dir, `approvals/admin/${change}/carol.json`, "{}\n");
    const forged = commitAs(dir, alice, "an approval in carol's name");
    const e = JSON.parse(out(await verify(dir, "--from", root))).error;
    expect(e.data).toMatchObject({ commit: forged, reason: "not-allowed", signer: "alice" });
  });

  it("readers with a trust root keep the last version an admin quorum agreed on", async () => {
    const { dir, root } = await quorumRepo();
    const before = git(dir, "rev-parse", "HEAD:.boot-meta.yaml");
    const rules = readFileSync(join(dir, ".boot-meta.yaml"), "utf8");
    write(dir, ".boot-meta.yaml", rules.replace("admin: 2", "admin: 1"));
    const bad = commitAs(dir, admin, "admin lowers the quorum alone");
    const { trustedView } = await import("../../src/meta/verify.js");
    const view = await trustedView(dir, { root });
    expect(view.tainted.get(".boot-meta.yaml")).toMatchObject({ commit: bad, reason: "not-enough-approvals", trusted: before });
  });
});

describe("rotating a release-signing key", () => {
  it("accepts a new keys/signers/<name>.pub introduced by a commit its old key signed, and nothing else from that key", async () => {
    const { dir, root } = await signedRepo();
    const s1 = sshKey("ci-signing-1");
    const s2 = sshKey("ci-signing-2");
    write(dir, "keys/signers/ci.pub", `${s1.sshLine} ci release signing (test-only)\n`);
    commitAs(dir, admin, "admin trusts ci's release-signing key");
    write(dir, "keys/signers/ci.pub", `${s2.sshLine} ci release signing, rotated (test-only)\n`);
    const rotation = commitAs(dir, s1, "ci rotates its signing key with the old one");
    const ok = await verify(dir, "--from", root);
    expect(ok.exitCode, out(ok)).toBe(0);
    const { trustedView } = await import("../../src/meta/verify.js");
    expect((await trustedView(dir, { root, head: rotation })).tainted.size).toBe(0);
    // The old key is no longer in the file: it cannot rotate again.
    write(dir, "keys/signers/ci.pub", `${s1.sshLine} back (test-only)\n`);
    const back = commitAs(dir, s1, "the old key tries to take it back");
    expect(JSON.parse(out(await verify(dir, "--from", root))).error.data).toMatchObject({ commit: back, reason: "unknown-signer" });
  });

  it("does not let a signing key change anything but its own file", async () => {
    const { dir, root } = await signedRepo();
    const s1 = sshKey("ci-signing-1");
    write(dir, "keys/signers/ci.pub", `${s1.sshLine}\n`);
    commitAs(dir, admin, "admin trusts ci's release-signing key");
    write(dir, "keys/signers/ci.pub", `${stranger.sshLine}\n`);
    write(dir, "shop/envs/prod/config.sops.yaml", "x: 1\n");
    const bad = commitAs(dir, s1, "rotation plus something else");
    expect(JSON.parse(out(await verify(dir, "--from", root))).error.data).toMatchObject({ commit: bad, reason: "unknown-signer" });
  });
});

describe("a prod reader through the CLI, with a trust root", () => {
  it("keeps reading the last trusted value after each kind of bad change, and reads an allowed signer's change", async () => {
    const { dir, root, adminKey } = await signedRepo();
    const { setConfigValue } = await import("../../src/config/edit.js");
    const ids = await identitySetFrom([adminKey]);
    const keyFile = join(tempDir(), "admin.txt");
    writeFileSync(keyFile, `# test-only key\n${adminKey}\n`, { mode: 0o600 });
    const as = (who: Actor | undefined, value: string) => signedAs(dir, who, () => setConfigValue(dir, { project: "shop", env: "prod" }, "database", value, { identities: ids }));
    const read = async () => {
      const r = await cli(["config", "get", "database", "-p", "shop", "-e", "prod", "--meta", dir, "--json"], { env: { SOPS_AGE_KEY_FILE: keyFile, BOOT_META_TRUST_ROOT: root } });
      expect(r.exitCode, err(r)).toBe(0);
      const value = JSON.parse(out(r)).value;
      // Said on stderr whenever the value is not the newest commit's.
      expect(err(r).includes("[CONFIG_UNVERIFIED]")).toBe(warnedExpected);
      return value;
    };
    let warnedExpected = false;
    await as(admin, "db.internal");
    expect(await read()).toBe("db.internal");
    warnedExpected = true;
    for (const [who, label] of [
      [undefined, "unsigned"],
      [stranger, "an unknown key"],
      [alice, "a developer"],
      [ci, "ci"],
    ] as const) {
      await as(who, `evil-${label.replaceAll(" ", "-")}.example`);
      expect(await read(), label).toBe("db.internal");
    }
    warnedExpected = false;
    await as(admin, "db2.internal");
    expect(await read()).toBe("db2.internal");
  });
});

describe("the OpenFeature provider with a trust root", () => {
  it("answers from the flags allowed signers wrote, not a developer's change to prod's", async () => {
    const { OpenFeature } = await import("@openfeature/server-sdk");
    const { BootMetaProvider } = await import("../../src/flags/provider.js");
    const { setFlag } = await import("../../src/flags/write.js");
    const { dir, root, adminKey } = await signedRepo();
    const ids = await identitySetFrom([adminKey]);
    const as = (who: Actor, value: boolean) => signedAs(dir, who, () => setFlag(dir, { project: "shop", env: "prod" }, "kill_switch", value, { identities: ids }));
    await as(admin, false);
    await as(alice, true);
    const domain = `trust-${Math.random().toString(36).slice(2)}`;
    const provider = new BootMetaProvider({ repo: dir, project: "shop", env: "prod", identities: [adminKey], trustRoot: root, watch: false, environment: {}, onWarning: () => undefined });
    await OpenFeature.setProviderAndWait(domain, provider);
    try {
      const d = await OpenFeature.getClient(domain).getBooleanDetails("kill_switch", true);
      expect(d.value).toBe(false);
      expect(d.flagMetadata.commit).toBe(git(dir, "rev-parse", "HEAD"));
    } finally {
      await OpenFeature.clearProviders();
    }
  });
});
