import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { parse as parseYaml } from "yaml";
import { Git } from "../../meta/git.js";
import { META_CONFIG, validateName } from "../../meta/layout.js";
import type { TreeReader } from "../../meta/reader.js";
import { findProjects } from "../../meta/state.js";
import { commitSigners } from "../../meta/verify.js";
import { readBinaries, SIGNERS_DIR, type StoredBinary } from "../../records/binaries.js";
import { decodeRecord } from "../../records/codec.js";
import { channelsDir, decodeAt, instancesDir, namesIn, readFiles, recordPath, releasesDir, requireProject, RELEASE_ID } from "../../records/files.js";
import { readChannels, readInstances, rollouts } from "../../records/fleet.js";
import { getRelease, withoutCredentials } from "../../records/releases.js";
import type { Channel, Release } from "../../records/types.js";
import { parseSshPublicKey, sshFingerprint } from "../../ssh/sshsig.js";
import type { RouteContext } from "../app.js";
import { badRequest, sendError } from "../http-errors.js";
import { notReady } from "../routes/params.js";

/** The browser files, beside this module in src/ and in dist/ (the build copies them: scripts/dashboard-assets.mjs). */
const ASSETS_DIR = fileURLToPath(new URL("./assets/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * Only what this page's own files do: no inline script, no other origin, not framed. The page
 * reads the API of the origin it came from and nothing else.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

let assets: Promise<Map<string, Asset>> | undefined;

/** The dashboard's files, read once per process: a fixed set, so no request path reaches the file system. */
function loadAssets(): Promise<Map<string, Asset>> {
  assets ??= (async () => {
    const out = new Map<string, Asset>();
    for (const name of await readdir(ASSETS_DIR)) {
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = await readFile(join(ASSETS_DIR, name));
      out.set(name, { body, type, etag: `"${createHash("sha256").update(body).digest("hex").slice(0, 32)}"` });
    }
    return out;
  })();
  assets.catch(() => (assets = undefined));
  return assets;
}

/** The most history entries one request reads. */
const MAX_HISTORY = 200;
/** The most releases one page lists. */
const MAX_RELEASES = 200;

type Query = Record<string, string | string[] | undefined>;
type Req<P> = FastifyRequest<{ Params: P; Querystring: Query }>;

function count(name: string, v: string | string[] | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined || v === "") return dflt;
  if (Array.isArray(v) || !/^\d{1,6}$/.test(v) || Number(v) < min || Number(v) > max) {
    throw badRequest(`${name}=${JSON.stringify(String(v).slice(0, 40))} is not a whole number from ${min} to ${max}`, { parameter: name });
  }
  return Number(v);
}

/** A channel's gates as `.boot-meta.yaml` `promotion:` declares them (project, else `*`); undefined when none. Plain values only. */
function gatesOf(promotion: unknown, project: string, channel: string): Record<string, string | number | boolean> | undefined {
  if (!promotion || typeof promotion !== "object") return undefined;
  const p = promotion as Record<string, unknown>;
  for (const key of [project, "*"]) {
    const forProject = Object.hasOwn(p, key) ? p[key] : undefined;
    if (!forProject || typeof forProject !== "object") continue;
    const g = Object.hasOwn(forProject, channel) ? (forProject as Record<string, unknown>)[channel] : undefined;
    if (!g || typeof g !== "object" || Array.isArray(g)) continue;
    const plain = Object.entries(g).filter((e): e is [string, string | number | boolean] => ["string", "number", "boolean"].includes(typeof e[1]));
    return Object.fromEntries(plain);
  }
  return undefined;
}

/** Release ids of a project, newest first (ids sort by creation time). */
async function releaseIds(r: TreeReader, project: string): Promise<string[]> {
  const root = releasesDir(project);
  const ids: string[] = [];
  for (const path of await r.list(root)) {
    const m = /^\d{4}\/\d{2}\/([^/]+)\.json$/.exec(path.slice(root.length + 1));
    if (m?.[1] && RELEASE_ID.test(m[1])) ids.push(m[1]);
  }
  return ids.sort().reverse();
}

/** Every trusted signing key (hex) with the signers that hold it (keys/signers/<name>.pub). */
async function signerKeys(r: TreeReader): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const n of (await namesIn(r, SIGNERS_DIR)).filter((x) => x.endsWith(".pub"))) {
    const name = n.slice(0, -".pub".length);
    const bytes = await r.read(`${SIGNERS_DIR}/${n}`);
    for (const line of Buffer.from(bytes ?? new Uint8Array()).toString("utf8").split("\n")) {
      if (!line.trim() || line.trim().startsWith("#")) continue;
      try {
        const hex = parseSshPublicKey(line).toString("hex");
        out.set(hex, [...(out.get(hex) ?? []), name]);
      } catch {
        /* not an ed25519 key: it signs nothing here */
      }
    }
  }
  return out;
}

/** A binary as the dashboard shows it: no credentials in its URLs, none at all when sealed. */
function binaryView(b: StoredBinary, trusted: Map<string, string[]>) {
  const x = b.record;
  return {
    sha256: x.sha256,
    size: Number(x.size),
    os: x.os,
    arch: x.arch,
    releaseId: x.releaseId,
    createdAt: x.createdAt,
    createdBy: x.createdBy ?? null,
    sealed: b.sealed,
    sealedEnv: b.sealed ? (x.sealedEnv ?? null) : null,
    urls: b.sealed ? [] : (x.urls ?? []).map(withoutCredentials),
    signatures: (x.signatures ?? []).map((s) => {
      let key: Buffer | undefined;
      try {
        key = parseSshPublicKey(s.publicKey);
      } catch {
        key = undefined;
      }
      const holders = key ? (trusted.get(key.toString("hex")) ?? []) : [];
      // What the record claims, checked against keys/signers/ at this commit. The signature
      // itself covers the file's SHA-512 too, which only `binary verify FILE` can compute.
      const trustedKey = s.signer ? holders.includes(s.signer) : holders.length > 0;
      return { format: s.format, signer: s.signer || holders[0] || null, fingerprint: key ? sshFingerprint(key) : null, trustedKey };
    }),
  };
}

/**
 * The dashboard (`GET /` and its files under `/ui/`) and the read-only listings it draws from,
 * each read at the commit the service serves (with a trust root, its trusted view):
 *
 * - `GET /v1/projects`: the projects, with how many channels, releases and instances each has;
 * - `GET /v1/projects/:project/channels`: every channel with its rollout over its fleet, and
 *   its promotion gates when `.boot-meta.yaml` declares them;
 * - `GET /v1/projects/:project/channels/:channel/history?limit=N`: the channel's states from
 *   git history, newest first, with who signed each commit and, with a trust root, whether
 *   the commit changed the channel without the right (`untrusted`, `untrustedReason`);
 * - `GET /v1/projects/:project/releases?limit=&offset=`: releases, newest first;
 * - `GET /v1/projects/:project/releases/:idOrVersion/binaries`: a release's binaries with
 *   their signers (URLs without credentials; a sealed binary's not at all);
 * - `GET /v1/projects/:project/fleet`: the instance records by release, and who lags the
 *   rollout of its channel.
 *
 * Records only, as the record routes serve them without a token: no config is read here, and
 * liveness stays behind `GET /v1/projects/:project/instances` (instances:read).
 */
export function dashboardRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { mirror } = ctx;
  let cacheAt: string | undefined;
  const cache = new Map<string, Promise<unknown>>();
  /** One answer per commit and key, dropped when the served commit moves; a failure is not kept. */
  const atHead = <T>(key: string, fn: (commit: string, r: TreeReader) => Promise<T>): Promise<{ commit: string; value: T }> => {
    const head = mirror.head;
    if (head === undefined) return Promise.reject(notReady());
    if (cacheAt !== head || cache.size > 1_000) {
      cache.clear();
      cacheAt = head;
    }
    let hit = cache.get(key) as Promise<T> | undefined;
    if (!hit) {
      const built = fn(head, mirror.reader(head));
      hit = built;
      cache.set(key, built);
      built.catch(() => cache.get(key) === built && cache.delete(key));
    }
    return hit.then((value) => ({ commit: head, value }));
  };
  const json = (reply: FastifyReply, commit: string, body: unknown) => reply.header("boot-meta-commit", commit).header("cache-control", "no-cache").send(body);

  const page = async (reply: FastifyReply, name: string) => {
    const a = (await loadAssets()).get(name);
    if (!a) return reply.code(404).send({ error: { code: "SERVER_BAD_REQUEST", message: `no dashboard file ${name}`, data: {}, suggestions: ["the dashboard is at /"] } });
    reply.header("content-type", a.type).header("etag", a.etag).header("cache-control", "no-cache").header("x-content-type-options", "nosniff").header("referrer-policy", "no-referrer");
    if (a.type.startsWith("text/html")) reply.header("content-security-policy", CSP);
    if (reply.request.headers["if-none-match"] === a.etag) return reply.code(304).send();
    return reply.send(a.body);
  };
  app.get("/", (_req, reply) => page(reply, "index.html"));
  app.get("/ui/:file", (req: Req<{ file: string }>, reply) => page(reply, req.params.file));

  app.get("/v1/projects", async (_req, reply) => {
    try {
      const { commit, value } = await atHead("projects", async (_c, r) => {
        const { projects } = await findProjects(r);
        return Promise.all(
          projects.sort().map(async (name) => {
            const [channels, releases, instances] = await Promise.all([r.list(channelsDir(name)), releaseIds(r, name), r.list(instancesDir(name))]);
            return { name, channels: channels.filter((p) => p.endsWith(".json")).length, releases: releases.length, instances: instances.filter((p) => p.endsWith(".json")).length };
          }),
        );
      });
      return json(reply, commit, { commit, projects: value });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/v1/projects/:project/channels", async (req: Req<{ project: string }>, reply) => {
    try {
      const project = validateName("project", req.params.project);
      const { commit, value } = await atHead(`channels\0${project}`, async (_c, r) => {
        await requireProject(r, project);
        const [channels, instances, meta] = await Promise.all([readChannels(r, project), readInstances(r, project), r.read(META_CONFIG)]);
        let promotion: unknown;
        try {
          promotion = meta ? (parseYaml(Buffer.from(meta).toString("utf8")) as { promotion?: unknown } | null)?.promotion : undefined;
        } catch {
          // A .boot-meta.yaml that does not parse is `access check`'s to report; here it declares no gates.
          promotion = undefined;
        }
        const plans = rollouts(channels, instances);
        const versions = await versionsOf(r, project, channels.flatMap((c) => [c.releaseId, c.rollout?.previousReleaseId ?? ""]));
        return channels
          .sort((a, b) => (a.name < b.name ? -1 : 1))
          .map((c: Channel) => {
            const plan = plans.get(c.name);
            const gates = gatesOf(promotion, project, c.name);
            return {
              ...c,
              version: versions.get(c.releaseId) ?? null,
              previousVersion: c.rollout?.previousReleaseId ? (versions.get(c.rollout.previousReleaseId) ?? null) : null,
              fleet: { instances: plan?.fleet ?? 0, onRelease: plan?.onRelease.size ?? 0 },
              ...(gates ? { gates } : {}),
            };
          });
      });
      return json(reply, commit, { commit, project, channels: value });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/v1/projects/:project/channels/:channel/history", async (req: Req<{ project: string; channel: string }>, reply) => {
    try {
      const project = validateName("project", req.params.project);
      const channel = validateName("env", req.params.channel);
      const limit = count("limit", req.query.limit, 50, 1, MAX_HISTORY);
      const { commit, value } = await atHead(`history\0${project}\0${channel}\0${limit}`, async (head, r) => {
        await requireProject(r, project);
        const dir = mirror.gitDir;
        if (dir === undefined) throw notReady();
        const git = await Git.open(dir, { isolated: true });
        const path = recordPath.channel(project, channel);
        // One more than shown: the oldest entry's "from" is the state before it.
        const out = await git.run(["--literal-pathspecs", "log", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1e", `-n${limit + 1}`, head, "--", path]);
        const log = out.stdout
          .split("\x1e")
          .map((l) => l.trim().split("\x1f"))
          .filter((f) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(f[0] ?? ""))
          .map(([hash, name, email, date]) => ({ hash: hash as string, author: `${name} <${email}>`, date: date as string }));
        const blobs = await git.readBlobs(log.map((e) => `${e.hash}:${path}`));
        const states = blobs.map((b) => (b ? decodeRecord<Channel>("Channel", b, path).value : undefined));
        const signers = await commitSigners(dir, log.map((e) => e.hash));
        const rejected = mirror.trustRoot !== undefined ? mirror.rejected : undefined;
        const untrustedOf = (commit: string, p: string) => {
          const t = rejected?.get(`${commit}\0${p}`);
          return { untrusted: t !== undefined, untrustedReason: t?.message ?? null };
        };
        const versions = await versionsOf(r, project, states.flatMap((s) => [s?.releaseId ?? "", s?.rollout?.previousReleaseId ?? ""]));
        return log.slice(0, limit).map((e, i) => {
          const s = states[i];
          const signer = signers.get(e.hash);
          return {
            commit: e.hash,
            author: e.author,
            date: e.date,
            from: states[i + 1]?.releaseId ?? null,
            to: s?.releaseId ?? null,
            version: s ? (versions.get(s.releaseId) ?? null) : null,
            percent: s?.rollout?.previousReleaseId ? s.rollout.percent : 100,
            previousReleaseId: s?.rollout?.previousReleaseId || null,
            generation: s?.generation ?? null,
            restores: s?.restores || null,
            signedBy: signer?.principal ?? null,
            unsignedReason: signer?.principal ? null : (signer?.reason ?? null),
            // With a trust root: this commit changed the channel without the right (served at its last trusted version instead).
            ...untrustedOf(e.hash, path),
          };
        });
      });
      return json(reply, commit, { commit, project, channel, history: value });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/v1/projects/:project/releases", async (req: Req<{ project: string }>, reply) => {
    try {
      const project = validateName("project", req.params.project);
      const limit = count("limit", req.query.limit, 50, 1, MAX_RELEASES);
      const offset = count("offset", req.query.offset, 0, 0, 1_000_000);
      const { commit, value } = await atHead(`releases\0${project}\0${limit}\0${offset}`, async (_c, r) => {
        await requireProject(r, project);
        const ids = await releaseIds(r, project);
        const pageIds = ids.slice(offset, offset + limit);
        const paths = pageIds.map((id) => recordPath.release(project, id));
        const files = await readFiles(r, paths);
        const releases = pageIds.map((id, i) => decodeAt<Release>("Release", files.get(paths[i] as string) as Uint8Array, paths[i] as string, { id, project }).value);
        return { releases, total: ids.length, more: ids.length > offset + limit };
      });
      return json(reply, commit, { commit, project, ...value });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/v1/projects/:project/releases/:idOrVersion/binaries", async (req: Req<{ project: string; idOrVersion: string }>, reply) => {
    try {
      const project = validateName("project", req.params.project);
      const ref = req.params.idOrVersion;
      const { commit, value } = await atHead(`binaries\0${project}\0${ref}`, async (_c, r) => {
        await requireProject(r, project);
        const release = await getRelease(r, project, ref);
        const [all, trusted] = await Promise.all([readBinaries(r, project), signerKeys(r)]);
        const binaries = all
          .filter((b) => b.record.releaseId === release.id)
          .sort((a, b) => `${a.record.os}/${a.record.arch}/${a.record.createdAt}`.localeCompare(`${b.record.os}/${b.record.arch}/${b.record.createdAt}`))
          .map((b) => binaryView(b, trusted));
        return { release: release.id, binaries };
      });
      return json(reply, commit, { commit, project, ...value });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/v1/projects/:project/fleet", async (req: Req<{ project: string }>, reply) => {
    try {
      const project = validateName("project", req.params.project);
      const { commit, value } = await atHead(`fleet\0${project}`, async (_c, r) => {
        await requireProject(r, project);
        const [channels, instances] = await Promise.all([readChannels(r, project), readInstances(r, project)]);
        const plans = rollouts(channels, instances);
        const lagging: { id: string; channel: string; runs: string; wants: string }[] = [];
        const groups = new Map<string, typeof instances>();
        for (const i of instances) {
          groups.set(i.releaseId, [...(groups.get(i.releaseId) ?? []), i]);
          const wants = i.channel ? plans.get(i.channel)?.releaseFor(i.id) : undefined;
          if (wants && wants !== i.releaseId) lagging.push({ id: i.id, channel: i.channel as string, runs: i.releaseId, wants });
        }
        const versions = await versionsOf(r, project, [...groups.keys(), ...lagging.map((l) => l.wants)]);
        const byRelease = [...groups]
          .sort(([a], [b]) => (a < b ? 1 : -1))
          .map(([releaseId, list]) => ({ releaseId, version: versions.get(releaseId) ?? null, instances: list }));
        const lags = lagging.map((l) => ({ ...l, runsVersion: versions.get(l.runs) ?? null, wantsVersion: versions.get(l.wants) ?? null }));
        return { byRelease, lagging: lags, total: instances.length };
      });
      return json(reply, commit, { commit, project, ...value });
    } catch (e) {
      return sendError(reply, e);
    }
  });
}

/** The version of each release id given (ids without a record are left out). */
async function versionsOf(r: TreeReader, project: string, ids: readonly string[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((id) => RELEASE_ID.test(id)))];
  const paths = wanted.map((id) => recordPath.release(project, id));
  const files = await readFiles(r, paths);
  const out = new Map<string, string>();
  wanted.forEach((id, i) => {
    const bytes = files.get(paths[i] as string);
    if (bytes) out.set(id, decodeRecord<Release>("Release", bytes, paths[i] as string).value.version);
  });
  return out;
}
