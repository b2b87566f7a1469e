import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rolloutOf } from "../../src/records/rollout.js";
import { ageKeyFile, cliWith, err, out, spawnCliWith } from "../helpers/cli.js";
import { bareRemoteWithClones, git, tempDir } from "../helpers/gitdir.js";
import { protoType } from "../helpers/proto.js";
import { sourceRepo } from "../helpers/records.js";

const cli = cliWith();

async function ok(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await cli(args, { env });
  expect(r.exitCode, `${args.join(" ")}: ${err(r)}${out(r)}`).toBe(0);
  return r;
}
const json = async (args: string[], env: NodeJS.ProcessEnv = {}) => JSON.parse(out(await ok([...args, "--json"], env)));

/** A meta repo with project shop, made through the CLI. */
async function metaRepo(): Promise<string> {
  const meta = join(tempDir(), "meta");
  await ok(["init", meta]);
  await ok(["project", "create", "shop", "--meta", meta]);
  return meta;
}

describe("records through the CLI", () => {
  it("release create/list/show, buildinfo, channel promote/show/history/rollback, instance report/list", async () => {
    const meta = await metaRepo();
    const m = ["--meta", meta];
    const app = sourceRepo("app");
    git(app, "tag", "v1.0");
    const appHead = git(app, "rev-parse", "HEAD");

    const r1 = await json(["release", "create", "shop", "--version", "1.0", "--repo", app, ...m]);
    // Who and when: git's identity (here from the environment), and the commit says the same.
    expect(r1.createdBy).toBe("Test Author <author@test.invalid>");
    expect(Date.parse(r1.createdAt)).toBeGreaterThan(Date.now() - 600_000);
    expect(git(meta, "log", "-1", "--format=%an <%ae>")).toBe(r1.createdBy);
    // "v1.0" is a tag but not a semantic version (vX.Y.Z): the ref, and no version tag.
    expect(r1.repos).toEqual([{ name: "app", url: "https://example.invalid/org/app.git", commit: appHead, ref: "v1.0", commitTime: new Date(Number(git(app, "show", "-s", "--format=%ct")) * 1000).toISOString().replace(".000Z", "Z") }]);
    expect(git(meta, "ls-tree", "-r", "--name-only", "HEAD", "shop/releases")).toBe(`shop/releases/${r1.id.slice(0, 4)}/${r1.id.slice(4, 6)}/${r1.id}.json`);

    // A dirty source repo is refused, and nothing is written.
    writeFileSync(join(app, "wip.txt"), "not committed");
    const head = git(meta, "rev-parse", "HEAD");
    const dirty = await cli(["release", "create", "shop", "--version", "1.1", "--repo", app, ...m]);
    expect(dirty.exitCode).toBe(1);
    expect(err(dirty)).toMatch(/RELEASE_DIRTY_REPO.*wip\.txt/);
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
    const r2 = await json(["release", "create", "shop", "--version", "1.1", "--repo", app, "--allow-dirty", ...m]);
    expect(r2.repos[0].dirty).toBe(true);
    const list = await json(["release", "list", "shop", "--limit", "1", ...m]);
    expect(list.releases.map((r: { version: string }) => r.version)).toEqual(["1.1"]);
    expect(list.more).toBe(true);
    expect((await json(["release", "show", "shop", "1.0", ...m])).id).toBe(r1.id);
    const proto = await ok(["release", "show", "shop", r1.id, "--format", "proto", ...m]);
    const decoded = protoType("Release").toObject(protoType("Release").decode(Buffer.from(proto.stdout as Uint8Array)));
    expect(decoded).toMatchObject({ id: r1.id, version: "1.0", repos: [{ commit: appHead }] });
    const missing = await cli(["release", "show", "shop", "9.9", ...m]);
    expect(missing.exitCode).toBe(1);
    expect(err(missing)).toMatch(/RECORD_NOT_FOUND.*release 9\.9 of shop/);
    const escape = await cli(["release", "create", "../../etc", "--version", "1", "--commit", `app=https://x/app@${appHead}`, ...m]);
    expect(escape.exitCode).not.toBe(0);
    expect(git(meta, "status", "--porcelain")).toBe("");

    const go = out(await ok(["buildinfo", "--format", "go", "--commit", `app=https://x/app@${appHead}`, "--version", "1.0"]));
    expect(go).toContain(appHead);
    expect(go).toMatch(/-X /);

    await ok(["channel", "promote", "shop", "stable", "1.0", "--expect", "", ...m]);
    await ok(["channel", "promote", "shop", "stable", r2.id, "--expect", r1.id, "--author", "Rel Eng <releng@test.invalid>", ...m]);
    expect(git(meta, "log", "-1", "--format=%an <%ae>")).toBe("Rel Eng <releng@test.invalid>");
    expect((await json(["channel", "show", "shop", "stable", ...m])).channel.updatedBy).toBe("Rel Eng <releng@test.invalid>");
    expect((await json(["channel", "show", "shop", "stable", ...m])).channel.releaseId).toBe(r2.id);
    const stale = await cli(["channel", "promote", "shop", "stable", "1.0", "--expect", r1.id, ...m]);
    expect(stale.exitCode).toBe(3);
    expect(err(stale)).toContain(`points at ${r2.id}`);
    await ok(["channel", "rollback", "shop", "stable", ...m]);
    const history = (await json(["channel", "history", "shop", "stable", ...m])).history;
    expect(history.map((h: { to: string }) => h.to)).toEqual([r1.id, r2.id, r1.id]);
    expect(history[0].from).toBe(r2.id);
    expect((await json(["channel", "history", "shop", "stable", "--limit", "2", ...m])).history).toEqual(history.slice(0, 2));
    // A rollout before any instance has reported: each one is placed by its hash, the same every time.
    await ok(["channel", "promote", "shop", "stable", r2.id, "--percent", "50", ...m]);
    const answers = new Map<string, string>();
    for (const id of ["web-1", "web-2", "web-3", "web-4", "web-1"]) {
      const shown = await json(["channel", "show", "shop", "stable", "--instance", id, ...m]);
      expect(shown.channel.rollout).toEqual({ percent: 50, previousReleaseId: r1.id });
      expect(shown.instance).toEqual({ id, releaseId: rolloutOf(shown.channel, []).releaseFor(id), recorded: false });
      if (answers.has(id)) expect(shown.instance.releaseId).toBe(answers.get(id));
      answers.set(id, shown.instance.releaseId);
    }
    expect([...answers.values()].every((v) => v === r1.id || v === r2.id)).toBe(true);

    // A signed build: recorded by digest, traced back, verified once its signer is trusted.
    const work = tempDir();
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", join(work, "ci-key")]);
    const bin = join(work, "shop");
    writeFileSync(bin, "\x7fELF a build of 1.0");
    // Named as ci's before ci is a signer: refused, nothing written. Unnamed, it is recorded.
    const head0 = git(meta, "rev-parse", "HEAD");
    const unknown = await cli(["binary", "add", "shop", bin, "--release", "1.0", "--os", "linux", "--arch", "amd64", "--url", "s3://artifacts/shop/1.0/shop", "--sign-key", join(work, "ci-key"), "--signer", "ci", ...m]);
    expect(unknown.exitCode).toBe(1);
    expect(err(unknown)).toMatch(/SIGNER_UNKNOWN.*--signer ci: there is no such signer \(keys\/signers\/ci.pub does not exist\)/);
    expect(git(meta, "rev-parse", "HEAD")).toBe(head0);
    const added = await json(["binary", "add", "shop", bin, "--release", "1.0", "--os", "linux", "--arch", "amd64", "--url", "s3://artifacts/shop/1.0/shop", "--sign-key", join(work, "ci-key"), ...m]);
    const which = await json(["binary", "which", bin, ...m]);
    expect(which).toMatchObject({ binary: { sha256: added.sha256, urls: ["s3://artifacts/shop/1.0/shop"] }, release: { id: r1.id, repos: [{ commit: appHead }] } });
    // Mid-rollout, 1.0 is what the other half of stable runs.
    expect(which).toMatchObject({ channels: ["stable"], shares: { stable: 50 } });
    expect(out(await ok(["binary", "which", bin, ...m]))).toContain("stable (50% of its instances)");
    const pb = await ok(["binary", "which", added.sha256, "--format", "proto", ...m]);
    expect(protoType("Binary").toObject(protoType("Binary").decode(Buffer.from(pb.stdout as Uint8Array)), { longs: String })).toMatchObject({ sha256: added.sha256, releaseId: r1.id, size: "19" });
    const untrusted = await cli(["binary", "verify", bin, ...m]);
    expect(untrusted.exitCode).toBe(1);
    expect(err(untrusted)).toMatch(/BINARY_UNVERIFIED/);
    mkdirSync(join(meta, "keys/signers"), { recursive: true });
    writeFileSync(join(meta, "keys/signers/ci.pub"), readFileSync(join(work, "ci-key.pub")));
    git(meta, "add", "keys/signers/ci.pub");
    git(meta, "commit", "-qm", "trust the ci signer");
    expect(out(await ok(["binary", "verify", bin, ...m]))).toContain("valid signature by ci (trusted)");
    writeFileSync(bin, "\x7fELF a build of 1.0, altered");
    expect((await cli(["binary", "verify", bin, ...m])).exitCode).toBe(1);

    const rep = ["instance", "report", "shop", "web-1", "--channel", "stable", "--release", "1.0", "--status", "running", ...m];
    expect((await json(rep)).changed).toBe(true);
    const before = git(meta, "rev-parse", "HEAD");
    expect((await json(rep)).changed).toBe(false);
    expect(git(meta, "rev-parse", "HEAD")).toBe(before);
    const fleet = await json(["instance", "list", "shop", ...m]);
    expect(Object.keys(fleet.byRelease)).toEqual([r1.id]);
  });

  it("two promotions with the same --expect at once, from two clones of one remote: one wins, the other names the winner", async () => {
    const { remote, clones } = bareRemoteWithClones(3);
    const [seed, a, b] = clones as [string, string, string];
    await ok(["init", seed]);
    await ok(["project", "create", "shop", "--meta", seed]);
    const hash = "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c";
    const ids: string[] = [];
    for (const v of ["1.0", "2.0", "3.0"]) ids.push((await json(["release", "create", "shop", "--version", v, "--commit", `app=https://x/app@${hash}`, "--meta", seed])).id);
    await ok(["channel", "promote", "shop", "stable", "1.0", "--meta", seed]);
    git(seed, "push", "-q", "origin", "main");
    for (const c of [a, b]) git(c, "pull", "-q", "--ff-only", "origin", "main");

    // Two processes, so the two promotions really race (in-process commands take turns).
    const racer = spawnCliWith();
    const [ra, rb] = await Promise.all([
      racer(["channel", "promote", "shop", "stable", "2.0", "--expect", ids[0] as string, "--push", "--meta", a]),
      racer(["channel", "promote", "shop", "stable", "3.0", "--expect", ids[0] as string, "--push", "--meta", b]),
    ]);
    const codes = [ra.exitCode, rb.exitCode].sort();
    expect(codes, `${err(ra)}\n${err(rb)}`).toEqual([0, 3]);
    const [winner, loser] = ra.exitCode === 0 ? [ids[1], rb] : [ids[2], ra];
    expect(err(loser)).toMatch(new RegExp(`CHANNEL_CONFLICT.*points at ${winner}`));
    const onRemote = JSON.parse(git(remote, "show", "main:shop/channels/stable.json"));
    expect(onRemote.releaseId).toBe(winner);
    // The loser's clone is clean and its branch did not move past the remote.
    const loserDir = loser === ra ? a : b;
    expect(git(loserDir, "status", "--porcelain")).toBe("");
    expect(git(remote, "merge-base", "--is-ancestor", git(loserDir, "rev-parse", "HEAD"), "main")).toBe("");
  });

  it("a binary whose storage is secret: its URLs are SOPS-encrypted to the env's readers, the rest stays answerable", async () => {
    const root = tempDir();
    const meta = join(root, "meta");
    const admin = await ageKeyFile(root);
    const dev = await ageKeyFile(root);
    const m = ["--meta", meta];
    await ok(["init", meta]);
    await ok(["project", "create", "shop", ...m]);
    const rel = await json(["release", "create", "shop", "--version", "1.0", "--commit", "app=https://x/app@3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c", ...m]);
    const bin = join(root, "shop");
    writeFileSync(bin, "\x7fELF secret build");
    const url = "https://deploy:s3cr3t-token@artifacts.internal/shop/1.0";
    const addArgs = ["binary", "add", "shop", bin, "--release", "1.0", "--os", "linux", "--arch", "amd64", "--url", url, "--secret-env", "prod", ...m];

    // Before anyone has a key, nobody could read it: refused, nothing written, the secret not echoed.
    const headBefore = git(meta, "rev-parse", "HEAD");
    const nobody = await cli(addArgs);
    expect(nobody.exitCode).toBe(1);
    expect(err(nobody)).toMatch(/META_NO_READERS/);
    expect(err(nobody) + out(nobody)).not.toContain("s3cr3t");
    expect(git(meta, "rev-parse", "HEAD")).toBe(headBefore);
    expect(execFileSync("git", ["status", "--porcelain"], { cwd: meta, encoding: "utf8" })).toBe("");

    await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", ...m]);
    await ok(["keys", "add", "dana", "--key", dev.recipient, "--group", "developers", ...m]);
    const added = await json(addArgs);
    expect(JSON.stringify(added)).not.toContain("s3cr3t");

    // In the repo and its history: no plaintext URL; the record is a sops file to the prod readers (admin only).
    const path = `shop/binaries/${added.sha256.slice(0, 2)}/${added.sha256}.sops.json`;
    const stored = readFileSync(join(meta, path), "utf8");
    expect(stored).not.toContain("s3cr3t");
    expect(git(meta, "log", "-p", "--all")).not.toContain("s3cr3t");
    const doc = JSON.parse(stored);
    expect(doc.releaseId).toBe(rel.id);
    expect(doc.sealedEnv).toBe("prod");
    expect(doc.urls[0]).toMatch(/^ENC\[AES256_GCM,/);
    expect(doc.sops.encrypted_regex).toBe("^urls$");
    expect(doc.sops.age.map((x: { recipient: string }) => x.recipient)).toEqual([admin.recipient]);

    // With the admin key: the URLs. As sops would: `decrypt` opens the file too.
    const asAdmin = { SOPS_AGE_KEY_FILE: admin.file };
    const seen = await json(["binary", "which", bin, ...m], asAdmin);
    expect(seen).toMatchObject({ sealed: "opened", binary: { urls: [url] }, release: { id: rel.id } });
    expect(JSON.parse(out(await ok(["decrypt", join(meta, path)], asAdmin))).urls).toEqual([url]);
    // A developer (not a prod reader) still learns release and repos, not where it is stored.
    const asDev = await json(["binary", "which", added.sha256, ...m], { SOPS_AGE_KEY_FILE: dev.file });
    expect(asDev).toMatchObject({ sealed: "no-key", binary: { urls: [] }, release: { id: rel.id } });
    expect(out(await ok(["binary", "which", added.sha256, ...m], { SOPS_AGE_KEY_FILE: dev.file }))).toContain("your key does not open the storage details");

    // The access rules govern it like a config file: a new prod server can open it once its
    // key is added (re-wrapped), and a removed one cannot open what is written after (rotated).
    const server = await ageKeyFile(root);
    const asServer = { SOPS_AGE_KEY_FILE: server.file };
    expect((await json(["binary", "which", added.sha256, ...m], asServer)).sealed).toBe("no-key");
    const addedKey = await json(["keys", "add", "web-1", "--key", server.recipient, "--group", "prod-servers", ...m], asAdmin);
    expect(addedKey.rewrapped).toContain(path);
    expect((await json(["binary", "which", added.sha256, ...m], asServer)).binary.urls).toEqual([url]);
    expect((await json(["access", "show", ...m])).files.find((f: { path: string }) => f.path === path).readers).toEqual(["admin", "web-1"]);
    await ok(["access", "check", ...m]);
    const removed = await json(["keys", "remove", "web-1", ...m], asAdmin);
    expect(removed.rotated).toContain(path);
    expect(JSON.parse(readFileSync(join(meta, path), "utf8")).sops.age.map((x: { recipient: string }) => x.recipient)).toEqual([admin.recipient]);
    expect((await json(["binary", "which", added.sha256, ...m], asServer)).sealed).toBe("no-key");
    const stored2 = readFileSync(join(meta, path), "utf8");

    // Tampering with the record (another release id) is caught by the MAC for those who can check it.
    writeFileSync(join(meta, path), stored2.replace(rel.id, "20200101T000000Z-0.1"));
    git(meta, "commit", "-qam", "tamper");
    const tampered = await cli(["binary", "which", added.sha256, ...m], { env: asAdmin });
    expect(tampered.exitCode).not.toBe(0);
    expect(err(tampered)).toMatch(/MAC/);

  });

  it("widening a rollout from 10% to 50% gives 50%; show, instance list and binary which agree with what each instance gets; rollback steps back through it", async () => {
    const meta = await metaRepo();
    const m = ["--meta", meta];
    const at = (v: string) => `app=https://x/app@${createHash("sha1").update(v).digest("hex")}`;
    const ids: string[] = [];
    for (const v of ["1.0", "1.1", "1.2", "1.3"]) ids.push((await json(["release", "create", "shop", "--version", v, "--commit", at(v), ...m])).id);
    const [v10, v11, v12, v13] = ids as [string, string, string, string];

    // Refusals leave the repo as it was: a version recorded twice, an instance on a channel that does not exist.
    const head = git(meta, "rev-parse", "HEAD");
    const again = await cli(["release", "create", "shop", "--version", "1.1", "--commit", at("1.1b"), ...m]);
    expect(again.exitCode).toBe(1);
    expect(err(again)).toContain(`RELEASE_VERSION_EXISTS]: shop already has a release of version 1.1: ${v11}`);
    const nowhere = await cli(["instance", "report", "shop", "web-1", "--channel", "canary", "--release", "1.0", ...m]);
    expect(nowhere.exitCode).toBe(1);
    expect(err(nowhere)).toMatch(/CHANNEL_NOT_FOUND.*cannot record web-1 on channel canary of shop: there is no such channel/);
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
    expect(git(meta, "status", "--porcelain")).toBe("");

    await ok(["channel", "promote", "shop", "canary", "1.0", ...m]);
    const fleet = Array.from({ length: 8 }, (_, i) => `web-${i + 1}`);
    for (const id of fleet) await ok(["instance", "report", "shop", id, "--channel", "canary", "--release", "1.0", ...m]);
    const shard = (id: string) => createHash("sha256").update(id).digest("hex").slice(0, 2);
    expect(git(meta, "ls-tree", "-r", "--name-only", "HEAD", "shop/instances").split("\n").sort()).toEqual(fleet.map((id) => `shop/instances/${shard(id)}/${id}.json`).sort());
    const work = tempDir();
    const bins: Record<string, string> = {};
    for (const v of ["1.0", "1.1"]) {
      bins[v] = join(work, `shop-${v}`);
      writeFileSync(bins[v] as string, `a build of ${v}`);
      await ok(["binary", "add", "shop", bins[v] as string, "--release", v, "--os", "linux", "--arch", "amd64", "--url", `s3://b/shop-${v}`, ...m]);
    }

    /** What every instance of the fleet is told, one `channel show --instance` each. */
    const told = async () => {
      const out = new Map<string, string>();
      for (const id of fleet) {
        const shown = await json(["channel", "show", "shop", "canary", "--instance", id, ...m]);
        expect(shown.instance.recorded).toBe(true);
        out.set(id, shown.instance.releaseId);
      }
      return out;
    };
    const on = (answers: Map<string, string>, rel: string) => [...answers].filter(([, r]) => r === rel).map(([id]) => id).sort();

    await ok(["channel", "promote", "shop", "canary", "1.1", "--percent", "10", ...m]);
    const at10 = await told();
    expect(on(at10, v11)).toHaveLength(1); // ceil(10 × 8 / 100)
    await ok(["channel", "promote", "shop", "canary", "1.1", "--percent", "50", ...m]);
    const shown = await json(["channel", "show", "shop", "canary", ...m]);
    expect(shown.channel).toMatchObject({ releaseId: v11, rollout: { percent: 50, previousReleaseId: v10 } });
    expect(shown.fleet).toEqual({ instances: 8, onRelease: 4 });
    const at50 = await told();
    expect(on(at50, v11)).toHaveLength(4);
    expect(on(at50, v11)).toEqual(expect.arrayContaining(on(at10, v11)));
    expect(on(at50, v10)).toHaveLength(4);
    // instance list: those told 1.1 lag (they all still run 1.0), and no one else.
    const list = await json(["instance", "list", "shop", ...m]);
    expect(list.lagging.map((l: { id: string }) => l.id).sort()).toEqual(on(at50, v11));
    expect(new Set(list.lagging.map((l: { wants: string }) => l.wants))).toEqual(new Set([v11]));
    // binary which: exactly the instances that get each build.
    expect(await json(["binary", "which", bins["1.1"] as string, ...m])).toMatchObject({ channels: ["canary"], shares: { canary: 50 }, counts: { canary: { instances: 4, of: 8 } } });
    expect(await json(["binary", "which", bins["1.0"] as string, ...m])).toMatchObject({ channels: ["canary"], counts: { canary: { instances: 4, of: 8 } } });
    expect(out(await ok(["binary", "which", bins["1.1"] as string, ...m]))).toContain("canary (4 of its 8 instances)");

    // Rollback: one step back at a time, each restoring the release and the rollout of that point.
    await ok(["channel", "promote", "shop", "canary", "1.2", ...m]);
    const back = async () => (await json(["channel", "rollback", "shop", "canary", ...m])).channel;
    const fleetOn = async () => (await json(["channel", "show", "shop", "canary", ...m])).fleet;
    expect(await back()).toMatchObject({ releaseId: v11, rollout: { percent: 50, previousReleaseId: v10 } });
    expect(await fleetOn()).toEqual({ instances: 8, onRelease: 4 });
    expect(await back()).toMatchObject({ releaseId: v11, rollout: { percent: 10, previousReleaseId: v10 } });
    expect(await fleetOn()).toEqual({ instances: 8, onRelease: 1 });
    // The same instance as before the widening: the ranking does not change with the promotions.
    expect((await json(["channel", "show", "shop", "canary", "--instance", on(at10, v11)[0] as string, ...m])).instance.releaseId).toBe(v11);
    const first = await back();
    expect(first.releaseId).toBe(v10);
    expect(first.rollout).toBeUndefined();
    const before = git(meta, "rev-parse", "HEAD");
    const none = await cli(["channel", "rollback", "shop", "canary", ...m]);
    expect(none.exitCode).toBe(1);
    expect(err(none)).toMatch(/CHANNEL_NO_PREVIOUS.*shop\/canary has no earlier point in its history/);
    // --to: the newest earlier point with that release; never to a release the channel did not have.
    const never = await cli(["channel", "rollback", "shop", "canary", "--to", "1.3", ...m]);
    expect(never.exitCode).toBe(1);
    expect(err(never)).toContain(`CHANNEL_NO_SUCH_POINT]: shop/canary has not pointed at ${v13} before`);
    const stale = await cli(["channel", "rollback", "shop", "canary", "--to", "1.2", "--expect", v12, ...m]);
    expect(stale.exitCode).toBe(3);
    expect(err(stale)).toContain(`CHANNEL_CONFLICT]: shop/canary points at ${v10}, not ${v12}`);
    expect(git(meta, "rev-parse", "HEAD")).toBe(before);
    expect((await json(["channel", "rollback", "shop", "canary", "--to", "1.2", "--expect", v10, ...m])).channel).toMatchObject({ releaseId: v12 });
    // The newest point with 1.1 is the rollback to 1.1 at 10%.
    expect((await json(["channel", "rollback", "shop", "canary", "--to", "1.1", ...m])).channel).toMatchObject({ releaseId: v11, rollout: { percent: 10 } });
    const history = (await json(["channel", "history", "shop", "canary", ...m])).history;
    expect(history.map((h: { generation: number; restores?: number }) => [h.generation, h.restores ?? null])).toEqual([
      [9, 2],
      [8, 4],
      [7, 1],
      [6, 2],
      [5, 3],
      [4, null],
      [3, null],
      [2, null],
      [1, null],
    ]);
  }, 300_000);

  it("a binary signed with a key that is not the named signer's is refused, at add and at verify", async () => {
    const meta = await metaRepo();
    const m = ["--meta", meta];
    await ok(["release", "create", "shop", "--version", "1.0", "--commit", "app=https://x/app@3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c", ...m]);
    const work = tempDir();
    for (const k of ["ci", "other"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", k, "-f", join(work, `${k}-key`)]);
    mkdirSync(join(meta, "keys/signers"), { recursive: true });
    writeFileSync(join(meta, "keys/signers/ci.pub"), readFileSync(join(work, "ci-key.pub")));
    git(meta, "add", "keys/signers/ci.pub");
    git(meta, "commit", "-qm", "trust the ci signer");
    const bin = join(work, "shop");
    writeFileSync(bin, "\x7fELF a build");
    const add = ["binary", "add", "shop", bin, "--release", "1.0", "--os", "linux", "--arch", "amd64", "--url", "s3://b/shop", "--signer", "ci", ...m];
    const head = git(meta, "rev-parse", "HEAD");
    const wrong = await cli([...add, "--sign-key", join(work, "other-key")]);
    expect(wrong.exitCode).toBe(2);
    expect(err(wrong)).toMatch(/SIGNER_KEY_MISMATCH.*--signer ci: the key in .*other-key \(SHA256:\S+\) is not ci's; keys\/signers\/ci.pub holds SHA256:/);
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
    expect(git(meta, "status", "--porcelain")).toBe("");
    await ok([...add, "--sign-key", join(work, "ci-key")]);
    expect(out(await ok(["binary", "verify", bin, ...m]))).toContain("valid signature by ci (trusted)");
    // ci's key is replaced: the signature still checks, but it is no longer ci's.
    writeFileSync(join(meta, "keys/signers/ci.pub"), readFileSync(join(work, "other-key.pub")));
    git(meta, "commit", "-qam", "ci has a new key");
    const verify = await cli(["binary", "verify", bin, ...m]);
    expect(verify.exitCode).toBe(1);
    expect(out(verify)).toMatch(/valid signature by ci \(refused: it names ci, but was made with SHA256:\S+, which is not ci's key/);
    expect(err(verify)).toMatch(/BINARY_UNVERIFIED.*has no valid signature by a trusted signer: it names ci/);
  });
});
