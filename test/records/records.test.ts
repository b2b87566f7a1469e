import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { binaryVerify, binaryWhich, addBinary, digestFile } from "../../src/records/binaries.js";
import { renderBuildInfo } from "../../src/records/buildinfo.js";
import { channelHistory, promoteChannel, rollbackChannel, showChannel } from "../../src/records/channels.js";
import { decodeRecord, encodeRecord, encodeRecordBinary } from "../../src/records/codec.js";
import { listInstances, reportInstance } from "../../src/records/instances.js";
import { createRelease, getRelease, listReleases, parseCommitSpec, repoRefOf, withoutCredentials } from "../../src/records/releases.js";
import { rolloutOf } from "../../src/records/rollout.js";
import { withReader } from "../../src/records/files.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { protoType } from "../helpers/proto.js";
import { recordsRemote, recordsRepo, sourceRepo } from "../helpers/records.js";

const HASH = "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c";

describe("record files", () => {
  it("are pretty proto3 JSON in schema order, validated, with a binary encoding protobufjs reads back", () => {
    const rel = { id: "x", project: "shop", version: "1.0", repos: [{ name: "app", commit: HASH }], createdAt: "2026-01-01T00:00:00Z" };
    const text = Buffer.from(encodeRecord("Release", rel)).toString();
    expect(text).toBe(`{\n  "id": "x",\n  "project": "shop",\n  "version": "1.0",\n  "repos": [\n    {\n      "name": "app",\n      "commit": "${HASH}"\n    }\n  ],\n  "createdAt": "2026-01-01T00:00:00Z"\n}\n`);
    const bin = encodeRecordBinary("Release", rel);
    expect(protoType("Release").toObject(protoType("Release").decode(bin))).toMatchObject(rel);
    expect(() => decodeRecord("Release", Buffer.from('{"id": 5}'), "bad.json")).toThrowError(expect.objectContaining({ code: "RECORD_INVALID", message: expect.stringContaining("bad.json") }));
    expect(() => decodeRecord("Release", Buffer.from("not json"), "bad.json")).toThrowError(expect.objectContaining({ code: "RECORD_INVALID" }));
  });

  it("keep fields written by a newer version when rewritten", async () => {
    const dir = await recordsRepo();
    await createRelease(dir, "shop", { version: "1.0", repos: [parseCommitSpec(`app=https://x/app@${HASH}`)] });
    await promoteChannel(dir, "shop", "stable", "1.0");
    const path = join(dir, "shop/channels/stable.json");
    const withNew = { ...JSON.parse(readFileSync(path, "utf8")), canaryRegions: ["eu-west"], futureFlag: true };
    writeFileSync(path, `${JSON.stringify(withNew, null, 2)}\n`);
    git(dir, "commit", "-qam", "a newer writer");
    await createRelease(dir, "shop", { version: "1.1", repos: [parseCommitSpec(`app=https://x/app@${HASH}`)] });
    await promoteChannel(dir, "shop", "stable", "1.1");
    const after = JSON.parse(readFileSync(path, "utf8"));
    expect(after).toMatchObject({ canaryRegions: ["eu-west"], futureFlag: true });
    expect(after.releaseId).toMatch(/-1\.1$/);
  });
});

describe("releases", () => {
  it("record each local repo's commit, remote, branch or tag, refusing a dirty tree unless allowed", async () => {
    const app = sourceRepo("app");
    git(app, "tag", "v1.0.0");
    const ref = await repoRefOf(app);
    expect(ref).toEqual({ name: "app", url: "https://example.invalid/org/app.git", commit: git(app, "rev-parse", "HEAD"), ref: "v1.0.0", versionTag: "v1.0.0", commitTime: new Date(Number(git(app, "show", "-s", "--format=%ct")) * 1000).toISOString().replace(".000Z", "Z") });
    writeFileSync(join(app, "wip.txt"), "x");
    await expect(repoRefOf(app)).rejects.toMatchObject({ code: "RELEASE_DIRTY_REPO", message: expect.stringContaining("wip.txt") });
    expect(await repoRefOf(app, { allowDirty: true })).toMatchObject({ dirty: true });
  });

  it("never record a password or token a remote URL carries", async () => {
    const app = sourceRepo("app");
    git(app, "remote", "set-url", "origin", "https://ci-bot:ghp_s3cr3tT0ken@example.invalid/org/app.git");
    expect((await repoRefOf(app)).url).toBe("https://example.invalid/org/app.git");
    expect(parseCommitSpec(`lib=https://oauth2:glpat-x@gitlab.invalid/org/lib.git@${HASH}`).url).toBe("https://gitlab.invalid/org/lib.git");
    expect(withoutCredentials("ssh://git:pw@host.invalid/org/x.git")).toBe("ssh://git@host.invalid/org/x.git");
    expect(withoutCredentials("ssh://git@host.invalid/org/x.git")).toBe("ssh://git@host.invalid/org/x.git");
    expect(withoutCredentials("git@github.com:org/x.git")).toBe("git@github.com:org/x.git");
    expect(withoutCredentials("/srv/git/x.git")).toBe("/srv/git/x.git");
  });

  it("are immutable, listed newest first with paging, and found by id or version", async () => {
    const dir = await recordsRepo();
    const repos = [parseCommitSpec(`app=https://x/app@${HASH}`)];
    for (let i = 1; i <= 5; i++) await createRelease(dir, "shop", { version: `1.${i}`, repos, now: `2026-01-0${i}T00:00:00Z` });
    // A version is recorded once: the same version again, at any time, is refused naming the first.
    const head = git(dir, "rev-parse", "HEAD");
    for (const now of ["2026-01-03T00:00:00Z", "2026-02-01T00:00:00Z"]) {
      await expect(createRelease(dir, "shop", { version: "1.3", repos, now })).rejects.toMatchObject({
        code: "RELEASE_VERSION_EXISTS",
        message: expect.stringContaining("shop already has a release of version 1.3: 20260103T000000Z-1.3 (shop/releases/2026/01/20260103T000000Z-1.3.json)"),
        data: { existing: "20260103T000000Z-1.3" },
      });
    }
    expect(git(dir, "rev-parse", "HEAD")).toBe(head);
    // Versions whose id part only ends the same are different versions.
    await createRelease(dir, "shop", { version: "x-1.3", repos, now: "2026-01-06T00:00:00Z" });
    await withReader(dir, undefined, async (r) => expect((await getRelease(r, "shop", "1.3")).id).toBe("20260103T000000Z-1.3"));
    const page = await listReleases(dir, "shop", { limit: 2, offset: 1 });
    expect(page.more).toBe(true);
    expect(page.releases.map((r) => r.version)).toEqual(["1.5", "1.4"]);
    expect((await listReleases(dir, "shop", { limit: 2, offset: 4 })).more).toBe(false);
    await withReader(dir, undefined, async (r) => {
      expect((await getRelease(r, "shop", "1.2")).id).toBe("20260102T000000Z-1.2");
      expect((await getRelease(r, "shop", "20260103T000000Z-1.3")).version).toBe("1.3");
      await expect(getRelease(r, "shop", "9.9")).rejects.toMatchObject({ code: "RECORD_NOT_FOUND" });
      await expect(getRelease(r, "shop", "20260109T000000Z-1.3")).rejects.toMatchObject({ code: "RECORD_NOT_FOUND" });
    });
    await expect(createRelease(dir, "nope", { version: "1", repos })).rejects.toMatchObject({ code: "META_NO_PROJECT" });
    expect(() => parseCommitSpec("app@zz")).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});

describe("tampered or malformed records", () => {
  it("are refused with RECORD_INVALID naming the file: a missing field, a moved file, an id that is not its path's", async () => {
    const dir = await recordsRepo();
    const repos = [parseCommitSpec(`app=https://x/app@${HASH}`)];
    const rel = (await createRelease(dir, "shop", { version: "1.0", repos, now: "2026-01-01T00:00:00Z" })).value;
    await promoteChannel(dir, "shop", "stable", rel.id);
    const relPath = join(dir, `shop/releases/2026/01/${rel.id}.json`);
    const original = readFileSync(relPath, "utf8");
    const commitAll = (m: string) => {
      git(dir, "add", "-A");
      git(dir, "commit", "-qm", m);
    };
    // A required field gone.
    writeFileSync(relPath, JSON.stringify({ ...JSON.parse(original), version: undefined }));
    commitAll("drop the version");
    await expect(withReader(dir, undefined, (r) => getRelease(r, "shop", rel.id))).rejects.toMatchObject({ code: "RECORD_INVALID", message: expect.stringMatching(/2026\/01\/.*version is missing/) });
    // Another release's content under this id.
    writeFileSync(relPath, original.replace('"version": "1.0"', '"version": "6.6"').replace(rel.id, "20260101T000000Z-6.6"));
    commitAll("swap the content");
    await expect(withReader(dir, undefined, (r) => getRelease(r, "shop", rel.id))).rejects.toMatchObject({ code: "RECORD_INVALID", message: expect.stringContaining("path says") });
    await expect(listReleases(dir, "shop")).rejects.toMatchObject({ code: "RECORD_INVALID" });
    writeFileSync(relPath, original);
    commitAll("restore");
    // A channel file copied to another name answers for nothing.
    writeFileSync(join(dir, "shop/channels/beta.json"), readFileSync(join(dir, "shop/channels/stable.json")));
    commitAll("copy a channel by hand");
    await expect(showChannel(dir, "shop", "beta")).rejects.toMatchObject({ code: "RECORD_INVALID", message: expect.stringContaining("shop/channels/beta.json") });
    expect((await showChannel(dir, "shop", "stable")).channel.releaseId).toBe(rel.id);
    // A digest index that points outside the layout.
    const sha = "ab".repeat(32);
    mkdirSync(join(dir, "binaries/ab"), { recursive: true });
    writeFileSync(join(dir, `binaries/ab/${sha}.json`), JSON.stringify({ sha256: sha, project: "../../etc" }));
    commitAll("a bad index");
    await expect(binaryWhich(dir, sha)).rejects.toMatchObject({ code: "META_INVALID_NAME" });
  });
});

describe("the records layout", () => {
  it("shards releases by month and binaries by digest prefix; listing and lookups cross the shards", async () => {
    const dir = await recordsRepo();
    const repos = [parseCommitSpec(`app=https://x/app@${HASH}`)];
    // Out of order, across months and a year boundary.
    const made = [
      ["1.0", "2025-11-30T23:59:59Z"],
      ["2.0", "2025-12-15T08:00:00Z"],
      ["1.1", "2025-12-01T00:00:00Z"],
      ["2.1", "2026-02-01T10:00:00Z"],
      ["1.2", "2026-01-31T12:00:00Z"],
    ] as const;
    for (const [version, now] of made) await createRelease(dir, "shop", { version, repos, now });
    expect(git(dir, "ls-tree", "-r", "--name-only", "HEAD", "shop/releases").split("\n")).toEqual([
      "shop/releases/2025/11/20251130T235959Z-1.0.json",
      "shop/releases/2025/12/20251201T000000Z-1.1.json",
      "shop/releases/2025/12/20251215T080000Z-2.0.json",
      "shop/releases/2026/01/20260131T120000Z-1.2.json",
      "shop/releases/2026/02/20260201T100000Z-2.1.json",
    ]);
    const versions = async (limit: number, offset: number) => (await listReleases(dir, "shop", { limit, offset })).releases.map((r) => r.id.slice(0, 8));
    expect(await versions(10, 0)).toEqual(["20260201", "20260131", "20251215", "20251201", "20251130"]);
    expect(await versions(2, 1)).toEqual(["20260131", "20251215"]);
    expect(await versions(2, 4)).toEqual(["20251130"]);
    expect(await versions(2, 5)).toEqual([]);
    await expect(listReleases(dir, "shop", { limit: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await withReader(dir, undefined, async (r) => {
      expect((await getRelease(r, "shop", "2.0")).id).toBe("20251215T080000Z-2.0");
      expect((await getRelease(r, "shop", "2.1")).id).toBe("20260201T100000Z-2.1");
      expect((await getRelease(r, "shop", "1.0")).id).toBe("20251130T235959Z-1.0");
    });
    // A binary's record and the digest index sit under the digest's first two hex digits.
    const bin = join(tempDir(), "app");
    writeFileSync(bin, "binary bytes");
    const { sha256 } = await digestFile(bin);
    await addBinary(dir, "shop", bin, { release: "1.2", os: "linux", arch: "amd64", urls: ["s3://b/app"] });
    expect(git(dir, "ls-tree", "-r", "--name-only", "HEAD", "binaries", "shop/binaries").split("\n").sort()).toEqual([`binaries/${sha256.slice(0, 2)}/${sha256}.json`, `shop/binaries/${sha256.slice(0, 2)}/${sha256}.json`]);
    expect((await binaryWhich(dir, sha256)).release.id).toBe("20260131T120000Z-1.2");
  });
});

describe("channels", () => {
  it("promote, show, history and rollback, each a commit", async () => {
    const dir = await recordsRepo();
    const repos = [parseCommitSpec(`app=https://x/app@${HASH}`)];
    const a = (await createRelease(dir, "shop", { version: "1.0", repos, now: "2026-01-01T00:00:00Z" })).value;
    const b = (await createRelease(dir, "shop", { version: "1.1", repos, now: "2026-01-02T00:00:00Z" })).value;
    await promoteChannel(dir, "shop", "stable", a.id, { expect: "" });
    await promoteChannel(dir, "shop", "stable", b.id, { expect: a.id });
    expect((await showChannel(dir, "shop", "stable")).channel.releaseId).toBe(b.id);
    await expect(promoteChannel(dir, "shop", "stable", a.id, { expect: a.id })).rejects.toMatchObject({ code: "CHANNEL_CONFLICT", message: expect.stringContaining(`points at ${b.id}`) });
    const r = await rollbackChannel(dir, "shop", "stable");
    expect(r.value.channel.releaseId).toBe(a.id);
    const h = await channelHistory(dir, "shop", "stable");
    expect(h.map((c) => [c.from, c.to])).toEqual([[b.id, a.id], [a.id, b.id], [null, a.id]]);
    expect(h[0]?.author).toBe(git(dir, "log", "-1", "--format=%an <%ae>"));
  });

  it("two concurrent promotions with --expect on clones of one remote: exactly one wins", async () => {
    const { clones } = await recordsRemote(2);
    const [x, y] = clones as [string, string];
    const repos = [parseCommitSpec(`app=https://x/app@${HASH}`)];
    const base = (await createRelease(x, "shop", { version: "1.0", repos, now: "2026-01-01T00:00:00Z", push: true })).value;
    await promoteChannel(x, "shop", "stable", base.id, { push: true });
    const r1 = (await createRelease(x, "shop", { version: "1.1", repos, now: "2026-01-02T00:00:00Z", push: true })).value;
    const r2 = (await createRelease(y, "shop", { version: "1.2", repos, now: "2026-01-03T00:00:00Z", push: true })).value;
    git(y, "pull", "-q", "--ff-only", "origin", "main");
    const results = await Promise.allSettled([
      promoteChannel(x, "shop", "stable", r1.id, { expect: base.id, push: true }),
      promoteChannel(y, "shop", "stable", r2.id, { expect: base.id, push: true }),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.reason).toMatchObject({ code: "CHANNEL_CONFLICT", message: expect.stringMatching(/points at .*-1\.[12], not .*-1\.0/) });
  });
});

describe("binaries", () => {
  it("records a file by digest, signed so that ssh-keygen -Y verify accepts it, and leads back to its repos", async () => {
    const dir = await recordsRepo();
    const work = tempDir();
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", join(work, "ci-key")]);
    const app = sourceRepo("app");
    const rel = (await createRelease(dir, "shop", { version: "1.0", repos: [await repoRefOf(app)] })).value;
    await promoteChannel(dir, "shop", "stable", rel.id);
    const bin = join(work, "shop-linux-amd64");
    writeFileSync(bin, Buffer.from("\x7fELF pretend binary"));
    const add = { release: "1.0", os: "linux", arch: "amd64", urls: ["s3://artifacts/shop/1.0/shop-linux-amd64"], signKey: join(work, "ci-key"), signer: "ci" };
    // A signature names its signer only with that signer's key: no keys/signers/ci.pub yet, refused.
    const head = git(dir, "rev-parse", "HEAD");
    await expect(addBinary(dir, "shop", bin, add)).rejects.toMatchObject({ code: "SIGNER_UNKNOWN", message: expect.stringContaining("keys/signers/ci.pub does not exist") });
    expect(git(dir, "rev-parse", "HEAD")).toBe(head);
    mkdirSync(join(dir, "keys/signers"), { recursive: true });
    writeFileSync(join(dir, "keys/signers/ci.pub"), readFileSync(join(work, "ci-key.pub")));
    git(dir, "add", "keys/signers/ci.pub");
    git(dir, "commit", "-qm", "trust ci's signing key");
    // Someone else's key, named as ci's: refused, nothing written.
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "mallory", "-f", join(work, "other-key")]);
    const trusted = git(dir, "rev-parse", "HEAD");
    await expect(addBinary(dir, "shop", bin, { ...add, signKey: join(work, "other-key") })).rejects.toMatchObject({ code: "SIGNER_KEY_MISMATCH", message: expect.stringMatching(/the key in .*other-key \(SHA256:.*\) is not ci's; keys\/signers\/ci.pub holds SHA256:/) });
    expect(git(dir, "rev-parse", "HEAD")).toBe(trusted);
    expect(git(dir, "status", "--porcelain")).toBe("");
    await expect(addBinary(dir, "shop", bin, { ...add, signKey: undefined })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("--sign-key") });
    await expect(addBinary(dir, "shop", bin, { ...add, signer: "../ci" })).rejects.toMatchObject({ code: "META_INVALID_NAME" });
    const rec = (await addBinary(dir, "shop", bin, add)).value;
    expect(rec.sha256).toBe((await digestFile(bin)).sha256);
    // The stock ssh-keygen checks our signature.
    const sig = join(work, "sig");
    writeFileSync(sig, rec.signatures?.[0]?.signature as string);
    writeFileSync(join(work, "allowed"), `ci ${readFileSync(join(work, "ci-key.pub"), "utf8")}`);
    expect(execFileSync("ssh-keygen", ["-Y", "verify", "-f", join(work, "allowed"), "-I", "ci", "-n", "boot-meta", "-s", sig], { input: readFileSync(bin) }).toString()).toMatch(/Good "boot-meta" signature for ci/);
    expect(await binaryVerify(dir, bin)).toMatchObject({ ok: true, signatures: [{ signer: "ci", trusted: true, valid: true }] });
    // ssh-keygen's own signature verifies with us too.
    execFileSync("ssh-keygen", ["-Y", "sign", "-f", join(work, "ci-key"), "-n", "boot-meta", bin], { stdio: "ignore" });
    const { sshVerify } = await import("../../src/ssh/sshsig.js");
    expect(sshVerify(readFileSync(`${bin}.sig`, "utf8"), readFileSync(bin)).valid).toBe(true);
    // The same from the digests a streamed read computes (large files are never held in memory).
    expect(sshVerify(readFileSync(`${bin}.sig`, "utf8"), (await digestFile(bin)).digests).valid).toBe(true);
    // Provenance from the file and from the digest.
    for (const q of [bin, rec.sha256]) {
      const p = await binaryWhich(dir, q);
      expect(p.release.id).toBe(rel.id);
      expect(p.channels).toEqual(["stable"]);
      expect(p.shares).toEqual({ stable: 100 });
      expect(p.release.repos[0]).toMatchObject({ name: "app", commit: git(app, "rev-parse", "HEAD") });
    }
    // Altered bytes are not a recorded binary; recording twice is refused.
    writeFileSync(bin, "tampered");
    expect(await binaryVerify(dir, bin)).toMatchObject({ recorded: false, ok: false });
    await expect(binaryWhich(dir, "0".repeat(64))).rejects.toMatchObject({ code: "RECORD_NOT_FOUND" });
    writeFileSync(bin, Buffer.from("\x7fELF pretend binary"));
    await expect(addBinary(dir, "shop", bin, { release: "1.0", os: "linux", arch: "amd64", urls: ["s3://x/y"] })).rejects.toMatchObject({ code: "RECORD_EXISTS" });
    await expect(addBinary(dir, "shop", bin, { release: "1.0", os: "linux", arch: "amd64", urls: ["ftp://x"] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(addBinary(dir, "shop", bin, { release: "1.0", os: "linux", arch: "amd64", urls: [] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("at least one storage URL") });
  });

  it("verify refuses a signature that names a signer whose key did not make it, even a trusted key", async () => {
    const dir = await recordsRepo();
    const work = tempDir();
    for (const k of ["ci", "release"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", k, "-f", join(work, `${k}-key`)]);
    mkdirSync(join(dir, "keys/signers"), { recursive: true });
    for (const k of ["ci", "release"]) writeFileSync(join(dir, `keys/signers/${k}.pub`), readFileSync(join(work, `${k}-key.pub`)));
    git(dir, "add", "keys");
    git(dir, "commit", "-qm", "two signers");
    await createRelease(dir, "shop", { version: "1.0", repos: [parseCommitSpec(`app=https://x/app@${HASH}`)] });
    const bin = join(work, "shop");
    writeFileSync(bin, "\x7fELF build");
    // Signed with release's key and named by it: trusted, as release.
    const rec = (await addBinary(dir, "shop", bin, { release: "1.0", os: "linux", arch: "amd64", urls: ["s3://b/shop"], signKey: join(work, "release-key") })).value;
    expect(await binaryVerify(dir, bin)).toMatchObject({ ok: true, signatures: [{ signer: "release", trusted: true, valid: true }] });
    // A writer edits the record to say ci signed it: the signature still checks, but it is not ci's.
    const path = join(dir, `shop/binaries/${rec.sha256.slice(0, 2)}/${rec.sha256}.json`);
    const doc = JSON.parse(readFileSync(path, "utf8"));
    doc.signatures[0].signer = "ci";
    writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
    git(dir, "commit", "-qam", "claim ci signed it");
    const v = await binaryVerify(dir, bin);
    expect(v).toMatchObject({ ok: false, recorded: true, signatures: [{ signer: "ci", trusted: false, valid: true }] });
    expect(v.signatures[0]?.problem).toMatch(/^it names ci, but was made with SHA256:\S+, which is not ci's key \(keys\/signers\/ci.pub\)$/);
    // A name that is no signer at all (nor could be one) is refused the same way.
    for (const name of ["nobody", "../ci"]) {
      doc.signatures[0].signer = name;
      writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
      git(dir, "commit", "-qam", `claim ${name} signed it`);
      expect((await binaryVerify(dir, bin)).signatures[0]).toMatchObject({ trusted: false, problem: expect.stringContaining(`it names ${name}, who is not a signer`) });
    }
  });
});

describe("instances", () => {
  it("write only on change, at a path sharded by sha256 of the id, and list the fleet by release", async () => {
    const dir = await recordsRepo();
    const repos = [parseCommitSpec(`app=https://x/app@${HASH}`)];
    const a = (await createRelease(dir, "shop", { version: "1.0", repos, now: "2026-01-01T00:00:00Z" })).value;
    const b = (await createRelease(dir, "shop", { version: "1.1", repos, now: "2026-01-02T00:00:00Z" })).value;
    // On a channel that does not exist: refused, naming it and the channels there are.
    const head = git(dir, "rev-parse", "HEAD");
    await expect(reportInstance(dir, "shop", "web-1", { channel: "stable", release: a.id })).rejects.toMatchObject({ code: "CHANNEL_NOT_FOUND", message: expect.stringContaining("there is no such channel (shop/channels/stable.json); shop has no channel yet") });
    await promoteChannel(dir, "shop", "stable", b.id);
    await expect(reportInstance(dir, "shop", "web-1", { channel: "stabel", release: a.id })).rejects.toMatchObject({ code: "CHANNEL_NOT_FOUND", message: expect.stringContaining("its channels are stable") });
    await expect(reportInstance(dir, "shop", "web-1", { channel: "../stable", release: a.id })).rejects.toMatchObject({ code: "META_INVALID_NAME" });
    expect(git(dir, "log", "--format=%s", `${head}..HEAD`)).toMatch(/^channel: shop\/stable/);
    expect(git(dir, "status", "--porcelain")).toBe("");

    expect((await reportInstance(dir, "shop", "web-1", { channel: "stable", release: a.id, status: "running" })).commit).toBeDefined();
    expect((await reportInstance(dir, "shop", "web-1", { channel: "stable", release: a.id, status: "running" })).commit).toBeUndefined();
    const shard = (id: string) => createHash("sha256").update(id).digest("hex").slice(0, 2);
    expect(git(dir, "ls-tree", "-r", "--name-only", "HEAD", "shop/instances")).toBe(`shop/instances/${shard("web-1")}/web-1.json`);
    await reportInstance(dir, "shop", "web-2", { channel: "stable", release: b.id, status: "running" });
    await reportInstance(dir, "shop", "web-1", { channel: "stable", release: b.id, status: "running" });
    const fleet = await listInstances(dir, "shop");
    expect(Object.keys(fleet.byRelease)).toEqual([b.id]);
    expect(fleet.byRelease[b.id]?.map((i) => i.id).sort()).toEqual(["web-1", "web-2"]);
    expect(fleet.lagging).toEqual([]);
    // stable goes back to 1.0: both now run something their channel does not give them.
    await promoteChannel(dir, "shop", "stable", a.id);
    expect((await listInstances(dir, "shop")).lagging).toEqual([
      { id: "web-1", channel: "stable", runs: b.id, wants: a.id },
      { id: "web-2", channel: "stable", runs: b.id, wants: a.id },
    ]);
    // 1.1 to half the fleet: exactly one of the two, the one the rollout ranks first.
    await promoteChannel(dir, "shop", "stable", b.id, { percent: 50 });
    const c = (await showChannel(dir, "shop", "stable")).channel;
    const ro = rolloutOf(c, ["web-1", "web-2"]);
    expect(ro.onRelease.size).toBe(1);
    expect((await listInstances(dir, "shop")).lagging.map((l) => l.id)).toEqual(["web-1", "web-2"].filter((id) => ro.releaseFor(id) !== b.id));
  });

  it("read a record in the flat layout of before and move it on its next change; refuse one in another shard", async () => {
    const dir = await recordsRepo();
    const rel = (await createRelease(dir, "shop", { version: "1.0", repos: [parseCommitSpec(`app=https://x/app@${HASH}`)], now: "2026-01-01T00:00:00Z" })).value;
    await promoteChannel(dir, "shop", "stable", rel.id);
    mkdirSync(join(dir, "shop/instances"), { recursive: true });
    const old = { id: "web-9", project: "shop", channel: "stable", releaseId: rel.id, status: "running", changedAt: "2026-01-01T00:00:00Z" };
    writeFileSync(join(dir, "shop/instances/web-9.json"), `${JSON.stringify(old, null, 2)}\n`);
    git(dir, "add", "-A");
    git(dir, "commit", "-qm", "an instance in the old layout");
    expect((await listInstances(dir, "shop")).byRelease[rel.id]?.map((i) => i.id)).toEqual(["web-9"]);
    expect((await showChannel(dir, "shop", "stable", { instance: "web-9" })).instance).toEqual({ id: "web-9", releaseId: rel.id, recorded: true });
    expect((await reportInstance(dir, "shop", "web-9", { channel: "stable", release: rel.id, status: "running" })).commit).toBeUndefined();
    await reportInstance(dir, "shop", "web-9", { channel: "stable", release: rel.id, status: "upgrading" });
    const shard = createHash("sha256").update("web-9").digest("hex").slice(0, 2);
    expect(git(dir, "ls-tree", "-r", "--name-only", "HEAD", "shop/instances")).toBe(`shop/instances/${shard}/web-9.json`);
    // Moved by hand into another shard: refused, naming the file and where it belongs.
    const wrong = shard === "00" ? "01" : "00";
    mkdirSync(join(dir, `shop/instances/${wrong}`));
    git(dir, "mv", `shop/instances/${shard}/web-9.json`, `shop/instances/${wrong}/web-9.json`);
    git(dir, "commit", "-qm", "moved by hand");
    await expect(listInstances(dir, "shop")).rejects.toMatchObject({ code: "RECORD_INVALID", message: expect.stringContaining(`shop/instances/${wrong}/web-9.json is not where an instance record belongs`) });
  });
});

describe("buildinfo", () => {
  it("renders JSON, a TS module and Go -ldflags", () => {
    const info = { project: "shop", version: "1.0", repos: [{ name: "app", commit: HASH }] };
    expect(JSON.parse(renderBuildInfo(info, "json"))).toEqual(info);
    expect(renderBuildInfo(info, "ts")).toContain("export const buildInfo = {");
    expect(renderBuildInfo(info, "go")).toBe(`-X 'main.BootMetaBuildInfo=${JSON.stringify(info)}' -X 'main.BootMetaVersion=1.0' -X 'main.BootMetaCommit_app=${HASH}'\n`);
  });
});
