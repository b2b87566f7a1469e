import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BootMetaError, ExitCode } from "../../errors.js";
import { validateName } from "../../meta/layout.js";
import type { TreeReader } from "../../meta/reader.js";
import { binaryFor, readBinaries, readBinary, SIGNERS_DIR, type StoredBinary } from "../../records/binaries.js";
import { getChannel } from "../../records/channels.js";
import { encodeRecordBinary, type RecordKind } from "../../records/codec.js";
import { namesIn, recordNotFound, recordPath, requireProject } from "../../records/files.js";
import { fleetOf, readInstances } from "../../records/fleet.js";
import { getRelease } from "../../records/releases.js";
import { type Rollout, rolloutOf } from "../../records/rollout.js";
import type { BinaryRecord } from "../../records/types.js";
import type { RouteContext } from "../app.js";
import { badRequest, sendError } from "../http-errors.js";
import { etagMatches, type RecordMedia, recordMedia } from "../negotiate.js";
import { notReady } from "./params.js";

/** One record as the service gives it. */
interface Served {
  kind: RecordKind;
  /** `"<git blob id of the record's file>"`. */
  etag: string;
  /** The file as committed: its proto3 JSON (for a sealed binary, the SOPS JSON file). */
  json: Buffer;
  /** The record for its protobuf encoding (a sealed binary's without its encrypted URLs). */
  value: unknown;
  proto?: Buffer;
}

/** The most answers kept for one commit; past it the cache starts over (every answer is rebuilt from the clone on demand). */
const MAX_CACHED = 10_000;

/**
 * Answers built at one commit, dropped when the served commit moves. A failed build is not
 * kept: the next request tries again. Only records that exist are kept, so the size follows
 * the repository, not what clients ask for.
 */
class PerCommit {
  private at: string | undefined;
  private readonly entries = new Map<string, Promise<unknown>>();

  /** Call with the mirror's head read in the same tick: heads only move forward, so an old commit never clears a newer one's answers. */
  get<T>(commit: string, key: string, build: () => Promise<T>): Promise<T> {
    if (commit !== this.at) {
      this.entries.clear();
      this.at = commit;
    }
    let hit = this.entries.get(key) as Promise<T> | undefined;
    if (!hit) {
      if (this.entries.size >= MAX_CACHED) this.entries.clear();
      const built = build();
      hit = built;
      this.entries.set(key, built);
      built.catch(() => this.entries.get(key) === built && this.entries.delete(key));
    }
    return hit;
  }
}

type Params<P> = FastifyRequest<{ Params: P; Querystring: Record<string, string | string[] | undefined> }>;

const PLATFORM = /^[a-z0-9_]+$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;

/**
 * The records of a project as the meta repo holds them, read at the commit the service serves:
 *
 * - `GET /v1/projects/:project/channels/:channel` (a Channel),
 *   `/releases/:idOrVersion` (a Release), `/binaries/:sha256` (a Binary);
 * - `GET /v1/projects/:project/channels/:channel/binary?os=&arch=[&instance=][&download=1]`:
 *   provisioning in one curl — the Binary a server of that platform is to run under the
 *   channel's rollout, or with `download=1` a redirect to where it is stored.
 *
 * By `Accept`, an answer is the record's file as committed (`application/json`, the default:
 * the proto3 JSON mapping, so `git hash-object` of the body is its ETag) or its protobuf
 * encoding (`application/x-protobuf`, the message of proto/bootmeta/v1/records.proto that the
 * route names; fields a newer writer added, unknown to this version, are not in it); anything
 * else is a 406. The ETag is the git blob id of the record's file, the same for both
 * representations (`Vary: Accept` keeps caches apart); `If-None-Match` → 304; the
 * `Boot-Meta-Commit` header names the commit read. Names are checked before anything is read:
 * a project or channel is one percent-encoded path segment (`main%2Fmaintemplatev2`,
 * `eu%2Fstable`), and one with a `..` or empty segment is a 400 META_INVALID_NAME.
 */
export function recordRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { mirror } = ctx;
  const cache = new PerCommit();

  /** Runs `fn` at the served commit (read once, so one request sees one commit). */
  const atHead = <T>(fn: (commit: string, r: TreeReader) => Promise<T>): Promise<T> => {
    const head = mirror.head;
    if (head === undefined) return Promise.reject(notReady());
    return fn(head, mirror.reader(head));
  };

  const served = async (r: TreeReader, kind: RecordKind, path: string, value: unknown): Promise<Served> => {
    const [entry, bytes] = await Promise.all([r.entry(path), r.read(path)]);
    // The record was just read at this commit: its entry is there.
    if (!entry || !bytes) throw new Error(`${path} vanished from a commit`);
    return { kind, etag: `"${entry.id}"`, json: Buffer.from(bytes), value };
  };

  const binaryServed = (r: TreeReader, b: StoredBinary): Promise<Served> =>
    // A sealed record's URLs are ENC[…] values that only its SOPS metadata (in the JSON file) opens: the protobuf view leaves them out.
    served(r, "Binary", b.path, b.sealed ? { ...b.record, urls: undefined } : b.record);

  const send = (req: FastifyRequest, reply: FastifyReply, commit: string, s: Served, media: RecordMedia): FastifyReply => {
    reply.header("etag", s.etag).header("boot-meta-commit", commit).header("cache-control", "no-cache").header("vary", "accept");
    if (etagMatches(req.headers["if-none-match"], s.etag)) return reply.code(304).send();
    if (media.format === "json") return reply.type("application/json; charset=utf-8").send(s.json);
    s.proto ??= Buffer.from(encodeRecordBinary(s.kind, s.value));
    return reply.type(media.type).send(s.proto);
  };

  app.get("/v1/projects/:project/channels/:channel", async (req: Params<{ project: string; channel: string }>, reply) => {
    try {
      const project = validateName("project", req.params.project);
      const channel = validateName("env", req.params.channel);
      const media = recordMedia(req.headers.accept);
      return await atHead(async (commit, r) => {
        const s = await cache.get(commit, `channel\0${project}\0${channel}`, async () => {
          await requireProject(r, project);
          const c = await getChannel(r, project, channel);
          return served(r, "Channel", recordPath.channel(project, channel), c);
        });
        return send(req, reply, commit, s, media);
      });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  /**
   * A release by id, or by version: a version names one release (`release create` refuses
   * a second of the same version), but records written by hand or by an old version may
   * repeat one — then the newest release of that version (by id, which sorts by creation
   * time) is the one given, as `release show` and `channel promote` pick it.
   */
  app.get("/v1/projects/:project/releases/:idOrVersion", async (req: Params<{ project: string; idOrVersion: string }>, reply) => {
    try {
      const project = validateName("project", req.params.project);
      const idOrVersion = req.params.idOrVersion;
      const media = recordMedia(req.headers.accept);
      return await atHead(async (commit, r) => {
        const s = await cache.get(commit, `release\0${project}\0${idOrVersion}`, async () => {
          await requireProject(r, project);
          const rel = await getRelease(r, project, idOrVersion);
          return served(r, "Release", recordPath.release(project, rel.id), rel);
        });
        return send(req, reply, commit, s, media);
      });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/v1/projects/:project/binaries/:sha256", async (req: Params<{ project: string; sha256: string }>, reply) => {
    try {
      const project = validateName("project", req.params.project);
      const sha256 = digestParam(req.params.sha256);
      const media = recordMedia(req.headers.accept);
      return await atHead(async (commit, r) => {
        const s = await cache.get(commit, `binary\0${project}\0${sha256}`, async () => {
          await requireProject(r, project);
          const b = await readBinary(r, project, sha256);
          if (!b) throw recordNotFound(`binary ${sha256} of ${project}`, `record it with \`boot-meta binary add ${project} FILE --release RELEASE --os OS --arch ARCH --url URL\``);
          return binaryServed(r, b);
        });
        return send(req, reply, commit, s, media);
      });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  /**
   * `GET /v1/signers`: the release-signing keys (keys/signers/<name>.pub) at the served commit,
   * `{ commit, signers: [{ name, keys: ["ssh-ed25519 AAAA…"] }] }`: what an agent without git
   * access checks a binary's signature against. Public keys only; a line that is not a key is left out.
   */
  app.get("/v1/signers", async (_req, reply) => {
    try {
      return await atHead(async (commit, r) => {
        const signers = await cache.get(commit, "signers", async () => {
          const names = (await namesIn(r, SIGNERS_DIR)).filter((n) => n.endsWith(".pub")).sort();
          const files = await Promise.all(names.map((n) => r.read(`${SIGNERS_DIR}/${n}`)));
          return names.map((n, i) => ({ name: n.slice(0, -".pub".length), keys: Buffer.from(files[i] ?? new Uint8Array()).toString("utf8").split("\n").map((l) => l.trim()).filter((l) => /^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+/.test(l)) }));
        });
        return reply.header("boot-meta-commit", commit).header("cache-control", "no-cache").send({ commit, signers });
      });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  /**
   * Provisioning: the Binary for `os`/`arch` of the release the channel gives this server. With
   * `instance`, the release that instance gets under the channel's rollout (rollout.ts: a
   * recorded instance by its rank, a new one by its hash against the percent — the same answer
   * `channel show --instance` gives). Without it, the channel's baseline: its release once it
   * has all of its fleet, and during a rollout the release the rest stay on, so a server that
   * does not say who it is never lands in a canary by chance. `Boot-Meta-Release` and
   * `Boot-Meta-Sha256` say what was chosen. With `download=1`, a 302 to the binary's first
   * http(s) storage URL (`curl -fLo shop URL` fetches it); a sealed binary (its URLs are
   * encrypted: the service holds no key) is a 409 BINARY_SEALED, and one stored only where a
   * redirect cannot lead (s3://, gs://, file://) a 409 BINARY_NOT_DOWNLOADABLE.
   */
  app.get("/v1/projects/:project/channels/:channel/binary", async (req: Params<{ project: string; channel: string }>, reply) => {
    try {
      const project = validateName("project", req.params.project);
      const channel = validateName("env", req.params.channel);
      const q = req.query;
      const os = platformParam("os", q.os, "linux");
      const arch = platformParam("arch", q.arch, "amd64");
      const instance = q.instance === undefined ? undefined : validateName("principal", single("instance", q.instance));
      const download = flagParam("download", q.download);
      const media = download ? undefined : recordMedia(req.headers.accept);
      return await atHead(async (commit, r) => {
        const rollout = await cache.get(commit, `rollout\0${project}\0${channel}`, async (): Promise<Rollout> => {
          await requireProject(r, project);
          const c = await getChannel(r, project, channel);
          // The fleet decides only during a rollout; otherwise every instance gets the release.
          const fleet = c.rollout?.previousReleaseId ? fleetOf(await readInstances(r, project), channel) : [];
          return rolloutOf(c, fleet);
        });
        const releaseId = instance === undefined ? rollout.baseline : rollout.releaseFor(instance);
        const binaries = await cache.get(commit, `binaries\0${project}`, () => readBinaries(r, project));
        const b = binaryFor(binaries, releaseId, os, arch);
        if (!b) throw noBinary(project, channel, releaseId, os, arch, binaries);
        reply.header("boot-meta-release", releaseId).header("boot-meta-sha256", b.record.sha256);
        if (download) return redirect(reply, commit, b);
        const s = await cache.get(commit, `binary\0${project}\0${b.record.sha256}`, () => binaryServed(r, b));
        return send(req, reply, commit, s, media as RecordMedia);
      });
    } catch (e) {
      return sendError(reply, e);
    }
  });
}

function single(name: string, v: string | string[] | undefined): string {
  if (Array.isArray(v)) throw badRequest(`${name} is given ${v.length} times; give it once`, { parameter: name });
  return v ?? "";
}

function platformParam(name: "os" | "arch", v: string | string[] | undefined, example: string): string {
  const s = single(name, v);
  if (!PLATFORM.test(s)) {
    throw badRequest(s === "" ? `the ${name} query parameter is required: ?os=linux&arch=amd64` : `${name}=${JSON.stringify(s.slice(0, 100))} is not a platform name: lower-case letters, digits and _ (like ${example}), as \`binary add --${name}\` records it`, { parameter: name });
  }
  return s;
}

function flagParam(name: string, v: string | string[] | undefined): boolean {
  if (v === undefined) return false;
  const s = single(name, v);
  if (s === "1" || s === "true") return true;
  if (s === "0" || s === "false" || s === "") return false;
  throw badRequest(`${name}=${JSON.stringify(s.slice(0, 100))} is not 1, true, 0 or false`, { parameter: name });
}

function digestParam(v: string): string {
  if (!SHA256.test(v)) throw badRequest(`${JSON.stringify(v.slice(0, 100))} is not a SHA-256 digest: 64 hex digits, as \`sha256sum FILE\` prints`, { parameter: "sha256" });
  return v.toLowerCase();
}

function noBinary(project: string, channel: string, releaseId: string, os: string, arch: string, binaries: readonly StoredBinary[]): BootMetaError {
  const has = [...new Set(binaries.filter((b) => b.record.releaseId === releaseId).map((b) => `${b.record.os}/${b.record.arch}`))].sort();
  return new BootMetaError("RECORD_NOT_FOUND", `${project}/${channel} gives release ${releaseId}, which has no binary for ${os}/${arch}; ${has.length ? `it has ${has.join(", ")}` : "it has no binary recorded"}`, ExitCode.General, {
    data: { project, channel, release: releaseId, os, arch, platforms: has },
    suggestions: [...(has.length ? ["check os and arch (as `uname -s`/`uname -m` would name them, lower-case: linux, amd64)"] : []), `record one: \`boot-meta binary add ${project} FILE --release ${releaseId} --os ${os} --arch ${arch} --url URL\``],
  });
}

/** 302 to the binary's first http(s) URL, or why there is none to give. */
function redirect(reply: FastifyReply, commit: string, b: StoredBinary): FastifyReply {
  const rec: BinaryRecord = b.record;
  const what = `binary ${rec.sha256} (${rec.project} ${rec.os}/${rec.arch}, release ${rec.releaseId})`;
  if (b.sealed) {
    throw new BootMetaError("BINARY_SEALED", `cannot redirect to ${what}: its storage URLs are encrypted in the meta repository (sealed to the readers of ${rec.sealedEnv ?? rec.project}), and this service holds no key to open them`, ExitCode.General, {
      data: { sha256: rec.sha256, release: rec.releaseId, sealedEnv: rec.sealedEnv ?? null },
      suggestions: [
        `open them with your own key: \`boot-meta binary which ${rec.sha256}\` in a clone of the meta repository`,
        "or fetch the record without download=1 (its JSON is the SOPS file) and decrypt it with `sops -d`",
      ],
    });
  }
  const url = (rec.urls ?? []).map(httpUrl).find((u) => u !== undefined);
  if (!url) {
    throw new BootMetaError("BINARY_NOT_DOWNLOADABLE", `cannot redirect to ${what}: it is stored only at ${(rec.urls ?? []).join(", ")}, and a redirect can send a client only to an http(s) URL`, ExitCode.General, {
      data: { sha256: rec.sha256, release: rec.releaseId, urls: rec.urls ?? [] },
      suggestions: ["fetch it with that storage's own client (`aws s3 cp`, `gsutil cp`), then check it with `sha256sum`"],
    });
  }
  return reply.code(302).header("location", url).header("boot-meta-commit", commit).header("cache-control", "no-cache").send();
}

/** The URL as a Location header may carry it (non-ASCII percent-encoded); undefined unless http(s). */
function httpUrl(u: string): string | undefined {
  try {
    const url = new URL(u);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}
