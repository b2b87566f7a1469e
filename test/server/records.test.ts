import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProject } from "../../src/meta/projects.js";
import { addBinary } from "../../src/records/binaries.js";
import { promoteChannel, showChannel } from "../../src/records/channels.js";
import { encodeRecord } from "../../src/records/codec.js";
import { reportInstance } from "../../src/records/instances.js";
import { createRelease, parseCommitSpec } from "../../src/records/releases.js";
import { createApp } from "../../src/server/app.js";
import { Mirror } from "../../src/server/mirror.js";
import { type RunningServer, startServer } from "../../src/server/serve.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { protoType } from "../helpers/proto.js";
import { recordsRepo } from "../helpers/records.js";

const HASH = "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c";
const SECRET_URL = "https://deploy:s3cr3t-t0ken@artifacts.invalid/shop/1.2/shop";
const repos = [parseCommitSpec(`app=https://example.invalid/org/app@${HASH}`)];
const cli = cliWith();

/** A real file server on 127.0.0.1: where the binaries are stored. */
let files: Server;
let filesUrl: string;
const served = new Map<string, Buffer>();

let meta: string;
let mirror: Mirror;
let app: FastifyInstance;
/** What the tests built: release ids and binary digests by name. */
const rel: Record<string, string> = {};
const bin: Record<string, string> = {};
/** Every body the service sent, to check that no secret went out. */
const bodies: string[] = [];

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: "GET", url, headers });
  bodies.push(res.body, JSON.stringify(res.headers));
  return res;
}

const blobAt = (path: string) => git(meta, "rev-parse", `HEAD:${path}`);
/** The file's bytes as committed (git's output untrimmed). */
const fileAt = (path: string) => execFileSync("git", ["cat-file", "blob", `HEAD:${path}`], { cwd: meta });

async function addFile(name: string, bytes: string, o: { release: string; os: string; arch: string; urls?: string[]; secret?: string; now?: string }) {
  const file = join(tempDir(), name);
  writeFileSync(file, bytes);
  served.set(`/${name}`, Buffer.from(bytes));
  const r = await addBinary(meta, "shop", file, { release: o.release, os: o.os, arch: o.arch, urls: o.urls ?? [`${filesUrl}/${name}`], secret: o.secret, now: o.now });
  return r.value.sha256;
}

beforeAll(async () => {
  files = createServer((req, res) => {
    const body = served.get(req.url ?? "");
    if (!body) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;

  meta = await recordsRepo();
  await createProject(meta, "main/maintemplatev2");
  for (const [v, now] of [["1.0", "2026-01-01T00:00:00Z"], ["1.1", "2026-02-01T00:00:00Z"], ["1.2", "2026-03-01T00:00:00Z"]] as const) {
    rel[v] = (await createRelease(meta, "shop", { version: v, repos, now })).value.id;
  }
  rel.mt = (await createRelease(meta, "main/maintemplatev2", { version: "2.0", repos, now: "2026-01-01T00:00:00Z" })).value.id;

  // A second release of version 1.0, written by hand (release create refuses it): by version, the newer one counts.
  const dup = { id: "20260115T000000Z-1.0", project: "shop", version: "1.0", repos, createdAt: "2026-01-15T00:00:00Z", notes: "hand-written" };
  writeFileSync(join(meta, "shop/releases/2026/01/20260115T000000Z-1.0.json"), encodeRecord("Release", dup));
  git(meta, "add", "-A");
  git(meta, "commit", "-qm", "a second 1.0, by hand");
  rel["1.0-again"] = dup.id;

  bin["1.0"] = await addFile("shop-1.0-linux-amd64", "\x7fELF shop 1.0", { release: rel["1.0"] as string, os: "linux", arch: "amd64" });
  bin["1.1-old"] = await addFile("shop-1.1-linux-amd64-a", "\x7fELF shop 1.1 first build", { release: "1.1", os: "linux", arch: "amd64", now: "2026-02-01T00:00:00Z" });
  bin["1.1"] = await addFile("shop-1.1-linux-amd64-b", "\x7fELF shop 1.1 rebuilt", { release: "1.1", os: "linux", arch: "amd64", now: "2026-02-02T00:00:00Z" });
  bin["1.1-arm"] = await addFile("shop-1.1-linux-arm64", "\x7fELF shop 1.1 arm", { release: "1.1", os: "linux", arch: "arm64", urls: ["s3://artifacts/shop/1.1/shop-linux-arm64"] });
  const admin = await ageKeyFile(tempDir());
  const keys = await cli(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", "--meta", meta]);
  expect(keys.exitCode, err(keys) + out(keys)).toBe(0);
  bin["1.2"] = await addFile("shop-1.2-linux-amd64", "\x7fELF shop 1.2", { release: "1.2", os: "linux", arch: "amd64", urls: [SECRET_URL], secret: "prod" });
  const mtFile = join(tempDir(), "mt");
  writeFileSync(mtFile, "\x7fELF maintemplatev2");
  served.set("/mt", readFileSync(mtFile));
  bin.mt = (await addBinary(meta, "main/maintemplatev2", mtFile, { release: "2.0", os: "linux", arch: "amd64", urls: [`${filesUrl}/mt`] })).value.sha256;

  await promoteChannel(meta, "shop", "stable", rel["1.0"] as string);
  for (const id of ["web-1", "web-2", "web-3", "web-4"]) await reportInstance(meta, "shop", id, { channel: "stable", release: rel["1.0"] as string });
  await promoteChannel(meta, "shop", "stable", "1.1", { percent: 50 });
  await promoteChannel(meta, "shop", "canary", "1.2");
  await promoteChannel(meta, "shop", "eu/stable", "1.1");
  await promoteChannel(meta, "main/maintemplatev2", "stable", "2.0");

  mirror = new Mirror({ source: meta, cacheDir: tempDir() });
  await mirror.sync();
  app = createApp({ mirror });
});

afterAll(async () => {
  await app?.close();
  await mirror?.close();
  await new Promise((resolve) => files?.close(resolve));
});

describe("GET /v1/projects/:project/channels/:channel", () => {
  it("is the channel's file as committed, its blob id as ETag, the commit beside it; If-None-Match is a 304", async () => {
    const path = "shop/channels/stable.json";
    const res = await get("/v1/projects/shop/channels/stable");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.rawPayload.equals(fileAt(path))).toBe(true);
    expect(res.json()).toMatchObject({ project: "shop", name: "stable", releaseId: rel["1.1"], rollout: { percent: 50, previousReleaseId: rel["1.0"] } });
    expect(res.headers.etag).toBe(`"${blobAt(path)}"`);
    expect(res.headers["boot-meta-commit"]).toBe(git(meta, "rev-parse", "HEAD"));
    expect(res.headers.vary).toBe("accept");

    for (const inm of [res.headers.etag as string, `W/${res.headers.etag}`, `"0000", ${res.headers.etag}`, "*"]) {
      const again = await get("/v1/projects/shop/channels/stable", { "if-none-match": inm });
      expect(again.statusCode, inm).toBe(304);
      expect(again.body).toBe("");
      expect(again.headers.etag).toBe(res.headers.etag);
    }
    expect((await get("/v1/projects/shop/channels/stable", { "if-none-match": `"${"0".repeat(40)}"` })).statusCode).toBe(200);
  });

  it("is the protobuf encoding of the same record for Accept: application/x-protobuf, with the same ETag", async () => {
    const json = await get("/v1/projects/shop/channels/stable");
    for (const accept of ["application/x-protobuf", "application/protobuf", "application/json;q=0.5, application/x-protobuf", "application/x-protobuf, */*"]) {
      const res = await get("/v1/projects/shop/channels/stable", { accept });
      expect(res.statusCode, accept).toBe(200);
      expect(res.headers["content-type"], accept).toBe(accept === "application/protobuf" ? "application/protobuf" : "application/x-protobuf");
      const t = protoType("Channel");
      expect(t.toObject(t.decode(res.rawPayload)), accept).toEqual(json.json());
      expect(res.headers.etag).toBe(json.headers.etag);
    }
    // JSON wherever the client takes anything, or prefers it.
    for (const accept of ["*/*", "application/*", "text/html, */*;q=0.8", "application/json", "application/x-protobuf;q=0.2, application/json"]) {
      const res = await get("/v1/projects/shop/channels/stable", { accept });
      expect(res.headers["content-type"], accept).toBe("application/json; charset=utf-8");
    }
  });

  it("is a 406 SERVER_NOT_ACCEPTABLE for an Accept it cannot give", async () => {
    for (const accept of ["text/html", "application/xml, text/plain", "application/json;q=0, application/x-protobuf;q=0", "application/*;q=0"]) {
      const res = await get("/v1/projects/shop/channels/stable", { accept });
      expect(res.statusCode, accept).toBe(406);
      expect(res.json().error).toMatchObject({ code: "SERVER_NOT_ACCEPTABLE", message: expect.stringContaining("application/json (their proto3 JSON files) or application/x-protobuf") });
    }
  });

  it("takes a project and a channel of several segments as one percent-encoded segment each", async () => {
    const mt = await get("/v1/projects/main%2Fmaintemplatev2/channels/stable");
    expect(mt.statusCode).toBe(200);
    expect(mt.json()).toMatchObject({ project: "main/maintemplatev2", name: "stable", releaseId: rel.mt });
    expect(mt.headers.etag).toBe(`"${blobAt("main/maintemplatev2/channels/stable.json")}"`);
    const eu = await get("/v1/projects/shop/channels/eu%2Fstable");
    expect(eu.statusCode).toBe(200);
    expect(eu.json()).toMatchObject({ name: "eu/stable", releaseId: rel["1.1"] });
  });

  it("refuses names with a .. or an empty segment, percent-encoded or not, with a 400 META_INVALID_NAME", async () => {
    // (A path with a bare `..` or `%2E%2E` segment is normalised by the client before it is sent, as
    // WHATWG URLs are: see the real-port test below for those sent as they are.)
    for (const url of [
      "/v1/projects/shop/channels/..%2F..%2Fkeys%2Fadmin",
      "/v1/projects/shop/channels/stable%2F..%2F..%2Fproject",
      "/v1/projects/shop/channels/%2Fstable",
      "/v1/projects/shop/channels/eu%2F%2Fstable",
      "/v1/projects/..%2Fshop/channels/stable",
      "/v1/projects/keys/channels/stable",
      "/v1/projects/shop%2F..%2Fshop/binaries/" + "0".repeat(64),
      "/v1/projects/shop/channels/..%2Fstable/binary?os=linux&arch=amd64",
      "/v1/projects/shop/channels/stable/binary?os=linux&arch=amd64&instance=..%2Fweb-1",
    ]) {
      const res = await get(url);
      expect(res.statusCode, `${url} ${res.body}`).toBe(400);
      expect(res.json().error.code, url).toBe("META_INVALID_NAME");
    }
  });

  it("is a 404 naming what is missing: META_NO_PROJECT, CHANNEL_NOT_FOUND", async () => {
    const noProject = await get("/v1/projects/nope/channels/stable");
    expect(noProject.statusCode).toBe(404);
    expect(noProject.json().error).toMatchObject({ code: "META_NO_PROJECT", message: "there is no project nope in this meta repository" });
    const noChannel = await get("/v1/projects/shop/channels/stabel");
    expect(noChannel.statusCode).toBe(404);
    expect(noChannel.json().error).toMatchObject({ code: "CHANNEL_NOT_FOUND", message: "there is no channel stabel in shop (shop/channels/stabel.json); its channels are canary, eu/stable, stable", data: { channels: ["canary", "eu/stable", "stable"] } });
  });
});

describe("GET /v1/projects/:project/releases/:idOrVersion", () => {
  it("finds a release by id, or by version (the newest release of that version)", async () => {
    const byId = await get(`/v1/projects/shop/releases/${rel["1.0"]}`);
    expect(byId.statusCode).toBe(200);
    const path = `shop/releases/2026/01/${rel["1.0"]}.json`;
    expect(byId.rawPayload.equals(fileAt(path))).toBe(true);
    expect(byId.headers.etag).toBe(`"${blobAt(path)}"`);
    const byVersion = await get("/v1/projects/shop/releases/1.0");
    expect(byVersion.json()).toMatchObject({ id: rel["1.0-again"], notes: "hand-written" });
    expect((await get("/v1/projects/shop/releases/1.1")).json().id).toBe(rel["1.1"]);
    const proto = await get("/v1/projects/main%2Fmaintemplatev2/releases/2.0", { accept: "application/x-protobuf" });
    const t = protoType("Release");
    expect(t.toObject(t.decode(proto.rawPayload))).toMatchObject({ id: rel.mt, project: "main/maintemplatev2", version: "2.0", repos: [{ commit: HASH }] });
  });

  it("is a 404 RECORD_NOT_FOUND for a release that is not there", async () => {
    for (const which of ["9.9", "20260109T000000Z-1.3"]) {
      const res = await get(`/v1/projects/shop/releases/${which}`);
      expect(res.statusCode).toBe(404);
      expect(res.json().error).toMatchObject({ code: "RECORD_NOT_FOUND", message: `release ${which} of shop does not exist` });
    }
  });
});

describe("GET /v1/projects/:project/binaries/:sha256", () => {
  it("is the binary's record, by digest (either case)", async () => {
    const path = `shop/binaries/${bin["1.0"]?.slice(0, 2)}/${bin["1.0"]}.json`;
    for (const sha of [bin["1.0"] as string, (bin["1.0"] as string).toUpperCase()]) {
      const res = await get(`/v1/projects/shop/binaries/${sha}`);
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.equals(fileAt(path))).toBe(true);
      expect(res.headers.etag).toBe(`"${blobAt(path)}"`);
    }
    const proto = await get(`/v1/projects/shop/binaries/${bin["1.0"]}`, { accept: "application/x-protobuf" });
    const t = protoType("Binary");
    expect(t.toObject(t.decode(proto.rawPayload), { longs: String })).toMatchObject({ sha256: bin["1.0"], os: "linux", arch: "amd64", releaseId: rel["1.0"], urls: [`${filesUrl}/shop-1.0-linux-amd64`] });
  });

  it("gives a sealed binary as its SOPS file (the client decrypts) and its protobuf without the encrypted URLs", async () => {
    const path = `shop/binaries/${bin["1.2"]?.slice(0, 2)}/${bin["1.2"]}.sops.json`;
    const res = await get(`/v1/projects/shop/binaries/${bin["1.2"]}`);
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(fileAt(path))).toBe(true);
    const doc = res.json();
    expect(doc.urls[0]).toMatch(/^ENC\[AES256_GCM,/);
    expect(doc.sops.encrypted_regex).toBe("^urls$");
    expect(res.body).not.toContain("s3cr3t");
    const proto = await get(`/v1/projects/shop/binaries/${bin["1.2"]}`, { accept: "application/x-protobuf" });
    const t = protoType("Binary");
    const decoded = t.toObject(t.decode(proto.rawPayload), { longs: String, arrays: true });
    expect(decoded).toMatchObject({ sha256: bin["1.2"], releaseId: rel["1.2"], sealedEnv: "prod", urls: [] });
  });

  it("is a 404 RECORD_NOT_FOUND for an unknown digest, a 400 for one that is not a digest", async () => {
    const missing = await get(`/v1/projects/shop/binaries/${"0".repeat(64)}`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatchObject({ code: "RECORD_NOT_FOUND", message: `binary ${"0".repeat(64)} of shop does not exist` });
    // The digest is another project's: not this one's.
    expect((await get(`/v1/projects/main%2Fmaintemplatev2/binaries/${bin["1.0"]}`)).statusCode).toBe(404);
    for (const bad of ["abc", "0".repeat(63), `${"0".repeat(63)}g`, "..%2F..%2Fkeys"]) {
      const res = await get(`/v1/projects/shop/binaries/${bad}`);
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().error).toMatchObject({ code: "SERVER_BAD_REQUEST", message: expect.stringContaining("is not a SHA-256 digest: 64 hex digits") });
    }
  });
});

describe("GET /v1/projects/:project/channels/:channel/binary (provisioning)", () => {
  const provision = (q: string, headers: Record<string, string> = {}) => get(`/v1/projects/shop/channels/stable/binary?${q}`, headers);

  it("gives an instance the binary of the release the rollout gives it, as `channel show --instance` decides", async () => {
    const seen = new Set<string>();
    for (const id of ["web-1", "web-2", "web-3", "web-4", "new-1", "new-2", "new-3", "new-4", "new-5", "new-6"]) {
      const want = (await showChannel(meta, "shop", "stable", { instance: id })).instance?.releaseId as string;
      const res = await provision(`os=linux&arch=amd64&instance=${id}`);
      expect(res.statusCode, id).toBe(200);
      expect(res.headers["boot-meta-release"], id).toBe(want);
      // 1.1 has two linux/amd64 builds: the newer one counts.
      const sha = want === rel["1.1"] ? bin["1.1"] : bin["1.0"];
      expect(res.headers["boot-meta-sha256"], id).toBe(sha);
      expect(res.json(), id).toMatchObject({ sha256: sha, releaseId: want, os: "linux", arch: "amd64" });
      const path = `shop/binaries/${sha?.slice(0, 2)}/${sha}.json`;
      expect(res.headers.etag).toBe(`"${blobAt(path)}"`);
      seen.add(want);
    }
    // A 50% rollout: both sides are in this sample (and the recorded half is exactly 2 of 4).
    expect(seen).toEqual(new Set([rel["1.0"], rel["1.1"]]));
    const onNew = await Promise.all(["web-1", "web-2", "web-3", "web-4"].map(async (id) => (await provision(`os=linux&arch=amd64&instance=${id}`)).headers["boot-meta-release"]));
    expect(onNew.filter((r) => r === rel["1.1"])).toHaveLength(2);
  });

  it("gives a server that does not say who it is the release the rest of the fleet stays on during a rollout", async () => {
    const res = await provision("os=linux&arch=amd64");
    expect(res.headers["boot-meta-release"]).toBe(rel["1.0"]);
    expect(res.json().sha256).toBe(bin["1.0"]);
    const eu = await get("/v1/projects/shop/channels/eu%2Fstable/binary?os=linux&arch=arm64");
    expect(eu.statusCode).toBe(200);
    expect(eu.json()).toMatchObject({ sha256: bin["1.1-arm"], releaseId: rel["1.1"] });
    const again = await provision("os=linux&arch=amd64", { "if-none-match": res.headers.etag as string });
    expect(again.statusCode).toBe(304);
    const proto = await provision("os=linux&arch=amd64", { accept: "application/x-protobuf" });
    expect(protoType("Binary").decode(proto.rawPayload)).toMatchObject({ sha256: bin["1.0"] });
  });

  it("says which platforms a release has when it has none for the one asked for", async () => {
    const res = await get("/v1/projects/shop/channels/eu%2Fstable/binary?os=linux&arch=riscv64");
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({
      code: "RECORD_NOT_FOUND",
      message: `shop/eu/stable gives release ${rel["1.1"]}, which has no binary for linux/riscv64; it has linux/amd64, linux/arm64`,
      data: { platforms: ["linux/amd64", "linux/arm64"] },
    });
    const none = await get("/v1/projects/main%2Fmaintemplatev2/channels/stable/binary?os=darwin&arch=arm64");
    expect(none.json().error.message).toBe(`main/maintemplatev2/stable gives release ${rel.mt}, which has no binary for darwin/arm64; it has linux/amd64`);
    const noChannel = await get("/v1/projects/shop/channels/beta/binary?os=linux&arch=amd64");
    expect(noChannel.statusCode).toBe(404);
    expect(noChannel.json().error.code).toBe("CHANNEL_NOT_FOUND");
  });

  it("refuses a missing or malformed os, arch or download with a 400 SERVER_BAD_REQUEST", async () => {
    for (const [q, says] of [
      ["arch=amd64", "the os query parameter is required"],
      ["os=linux", "the arch query parameter is required"],
      ["os=Linux&arch=amd64", 'os="Linux" is not a platform name'],
      ["os=linux&arch=amd64%2F..", 'arch="amd64/.." is not a platform name'],
      ["os=linux&os=darwin&arch=amd64", "os is given 2 times"],
      ["os=linux&arch=amd64&download=yes", 'download="yes" is not 1, true, 0 or false'],
    ] as const) {
      const res = await provision(q);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().error, q).toMatchObject({ code: "SERVER_BAD_REQUEST", message: expect.stringContaining(says) });
    }
  });

  it("with download=1, redirects to the binary's http(s) storage URL", async () => {
    const res = await provision("os=linux&arch=amd64&download=1");
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`${filesUrl}/shop-1.0-linux-amd64`);
    expect(res.headers["boot-meta-sha256"]).toBe(bin["1.0"]);
    expect(res.headers["boot-meta-commit"]).toBe(git(meta, "rev-parse", "HEAD"));
  });

  it("with download=1, says why it cannot redirect: a sealed binary (409 BINARY_SEALED), one not on http(s) (409 BINARY_NOT_DOWNLOADABLE)", async () => {
    const sealed = await get("/v1/projects/shop/channels/canary/binary?os=linux&arch=amd64&download=1");
    expect(sealed.statusCode).toBe(409);
    expect(sealed.headers.location).toBeUndefined();
    expect(sealed.json().error).toMatchObject({
      code: "BINARY_SEALED",
      message: `cannot redirect to binary ${bin["1.2"]} (shop linux/amd64, release ${rel["1.2"]}): its storage URLs are encrypted in the meta repository (sealed to the readers of prod), and this service holds no key to open them`,
      suggestions: [expect.stringContaining(`boot-meta binary which ${bin["1.2"]}`), expect.stringContaining("sops -d")],
    });
    const s3 = await get("/v1/projects/shop/channels/eu%2Fstable/binary?os=linux&arch=arm64&download=1");
    expect(s3.statusCode).toBe(409);
    expect(s3.json().error).toMatchObject({ code: "BINARY_NOT_DOWNLOADABLE", message: expect.stringContaining("it is stored only at s3://artifacts/shop/1.1/shop-linux-arm64, and a redirect can send a client only to an http(s) URL") });
  });
});

describe("the records API over time", () => {
  it("follows the served commit: a promotion changes the channel's ETag and what servers are given", async () => {
    const before = await get("/v1/projects/shop/channels/stable");
    const release = await get(`/v1/projects/shop/releases/${rel["1.0"]}`);
    await promoteChannel(meta, "shop", "stable", "1.1");
    // Not served until the service fetches it.
    expect((await get("/v1/projects/shop/channels/stable", { "if-none-match": before.headers.etag as string })).statusCode).toBe(304);
    await mirror.sync();
    const after = await get("/v1/projects/shop/channels/stable", { "if-none-match": before.headers.etag as string });
    expect(after.statusCode).toBe(200);
    expect(after.json().rollout).toBeUndefined();
    expect(after.headers.etag).toBe(`"${blobAt("shop/channels/stable.json")}"`);
    expect(after.headers["boot-meta-commit"]).toBe(git(meta, "rev-parse", "HEAD"));
    // An unchanged record keeps its ETag across commits.
    expect((await get(`/v1/projects/shop/releases/${rel["1.0"]}`, { "if-none-match": release.headers.etag as string })).statusCode).toBe(304);
    const now = await get("/v1/projects/shop/channels/stable/binary?os=linux&arch=amd64");
    expect(now.headers["boot-meta-release"]).toBe(rel["1.1"]);
  });

  it("is a 503 SERVER_NOT_READY before the service's clone has synced", async () => {
    const cold = new Mirror({ source: meta, cacheDir: tempDir() });
    const coldApp = createApp({ mirror: cold });
    try {
      for (const url of ["/v1/projects/shop/channels/stable", "/v1/projects/shop/channels/stable/binary?os=linux&arch=amd64"]) {
        const res = await coldApp.inject({ method: "GET", url });
        expect(res.statusCode, url).toBe(503);
        expect(res.json().error.code).toBe("SERVER_NOT_READY");
      }
    } finally {
      await coldApp.close();
      await cold.close();
    }
  });

  it("never sends a sealed binary's storage URL", () => {
    expect(bodies.length).toBeGreaterThan(50);
    for (const b of bodies) expect(b).not.toContain("s3cr3t");
  });
});

describe("provisioning in one curl, over a real port", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ meta, port: 0, cacheDir: tempDir() });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** `curl -fLo FILE URL` when curl is installed; else fetch following redirects, failing on >= 400 as -f does. */
  async function download(url: string, to: string): Promise<{ ok: boolean; code: number; stderr: string }> {
    if (existsSync("/usr/bin/curl")) {
      return new Promise((resolve) => {
        execFile("curl", ["-fsSL", "-o", to, url], (e, _stdout, stderr) => resolve({ ok: !e, code: e ? Number((e as { code?: number }).code) : 0, stderr }));
      });
    }
    const res = await fetch(url, { redirect: "follow" });
    if (res.status >= 400) return { ok: false, code: 22, stderr: `The requested URL returned error: ${res.status}` };
    writeFileSync(to, Buffer.from(await res.arrayBuffer()));
    return { ok: true, code: 0, stderr: "" };
  }

  it("fetches the binary a channel gives: the service redirects, the storage serves it, the digest is the record's", async () => {
    const dir = tempDir();
    const shop = join(dir, "shop");
    const got = await download(`${server.url}/v1/projects/shop/channels/stable/binary?os=linux&arch=amd64&download=1`, shop);
    expect(got, got.stderr).toMatchObject({ ok: true });
    expect(createHash("sha256").update(readFileSync(shop)).digest("hex")).toBe(bin["1.1"]);
    // A project of two segments, percent-encoded, through a real HTTP parser.
    const mt = join(dir, "mt");
    expect((await download(`${server.url}/v1/projects/main%2Fmaintemplatev2/channels/stable/binary?os=linux&arch=amd64&instance=mt-1&download=1`, mt)).ok).toBe(true);
    expect(createHash("sha256").update(readFileSync(mt)).digest("hex")).toBe(bin.mt);
  });

  it("refuses a .. segment sent as it is (not normalised by the client) with a 400 META_INVALID_NAME", async () => {
    const { request } = await import("node:http");
    for (const path of ["/v1/projects/shop/channels/..", "/v1/projects/shop/channels/%2E%2E", "/v1/projects/%2e%2e/releases/1.0", "/v1/projects/shop/channels/../binary?os=linux&arch=amd64"]) {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        // Options, not a URL string: a URL would be normalised before it is sent.
        const { hostname, port } = new URL(server.url);
        const req = request({ host: hostname, port, path, method: "GET" }, (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (c: string) => (body += c)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject).end();
      });
      expect(status, `${path} ${body}`).toBe(400);
      expect(JSON.parse(body).error.code, path).toBe("META_INVALID_NAME");
    }
  });

  it("fails (curl -f: exit 22, nothing written) for a sealed binary, and JSON says why", async () => {
    const to = join(tempDir(), "shop");
    const url = `${server.url}/v1/projects/shop/channels/canary/binary?os=linux&arch=amd64&download=1`;
    const got = await download(url, to);
    expect(got).toMatchObject({ ok: false, code: 22 });
    expect(got.stderr).toContain("409");
    expect(existsSync(to)).toBe(false);
    const res = await fetch(url, { redirect: "manual" });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("BINARY_SEALED");
  });
});
