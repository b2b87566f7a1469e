import { existsSync } from "node:fs";
import { join } from "node:path";
import { cachedClone } from "../config/clone.js";
import { isUrl } from "../config/bootstrap.js";
import { BootMetaError, ERROR_CODES, type ErrorCode, ExitCode, isBootMetaError } from "../errors.js";
import { Git } from "../meta/git.js";
import { withReader } from "../meta/reader.js";
import { readTrusted } from "../meta/trusted-reader.js";
import type { TrustedView } from "../meta/verify.js";
import { binaryFor, readBinaries, trustedSigners, unsealUrls } from "../records/binaries.js";
import { getChannel } from "../records/channels.js";
import { decodeRecord } from "../records/codec.js";
import { type Reader, recordPath, requireProject } from "../records/files.js";
import { fleetOf, readInstances } from "../records/fleet.js";
import { reportInstance } from "../records/instances.js";
import { getRelease } from "../records/releases.js";
import { rolloutOf } from "../records/rollout.js";
import type { BinaryRecord } from "../records/types.js";
import { parseSshPublicKey } from "../ssh/sshsig.js";
import type { IdentitySet } from "../sops/identities.js";

/** What this instance is to run, as one reading of the source decided it. */
export interface Wanted {
  /** The meta repo commit it was read at (the service's served commit in server mode). */
  commit: string | undefined;
  /** The release id. */
  release: string;
  binary: BinaryRecord;
  /** The binary's URLs, opened (they were SOPS-encrypted in a sealed record). */
  urls: string[];
  sealed: boolean;
  /** keys/signers/ as the agent trusts it: key hex → signer names. */
  signers: Map<string, string[]>;
  /** What the agent should tell a person: tainted paths read at their trusted version. */
  warnings: string[];
}

/** What the agent says about its instance after a step. */
export interface Report {
  release: string;
  status: "running" | "failed";
  health: "healthy" | "unhealthy" | "unknown";
  lastError?: string;
}

export interface Target {
  project: string;
  channel: string;
  instance: string;
  os: string;
  arch: string;
}

/** Where the agent learns what to run and tells what it runs: a meta repository, or the config service. */
export interface Source {
  readonly kind: "repo" | "server";
  /** Human name for messages (never a credential). */
  readonly shown: string;
  wanted(): Promise<Wanted>;
  report(r: Report): Promise<void>;
}

function unreachable(what: string, cause: unknown): BootMetaError {
  const why = isBootMetaError(cause) ? cause.message : ((cause as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (cause as Error).message;
  return new BootMetaError("AGENT_UNREACHABLE", `cannot reach ${what}: ${why}`, ExitCode.General, {
    data: { source: what },
    suggestions: ["the agent keeps running what it runs and tries again with a backoff"],
    cause,
  });
}

/** The decision, from one reader: channel → rollout over its fleet → release → binary for this platform. */
async function decide(r: Reader, t: Target, identities: IdentitySet | undefined): Promise<Omit<Wanted, "commit" | "warnings">> {
  await requireProject(r, t.project);
  const c = await getChannel(r, t.project, t.channel);
  const fleet = c.rollout?.previousReleaseId ? fleetOf(await readInstances(r, t.project), t.channel) : [];
  const release = (await getRelease(r, t.project, rolloutOf(c, fleet).releaseFor(t.instance))).id;
  const binaries = await readBinaries(r, t.project);
  const b = binaryFor(binaries, release, t.os, t.arch);
  if (!b) {
    throw new BootMetaError("RECORD_NOT_FOUND", `${t.project}/${t.channel} gives ${t.instance} release ${release}, which has no binary for ${t.os}/${t.arch}`, ExitCode.General, {
      data: { project: t.project, channel: t.channel, release, os: t.os, arch: t.arch },
      suggestions: [`record one: \`boot-meta binary add ${t.project} FILE --release ${release} --os ${t.os} --arch ${t.arch} --url URL --sign-key KEY --signer NAME\``, "or give the agent --os/--arch if it names this machine differently"],
    });
  }
  const urls = b.sealed ? await openSealed(b.bytes, b.path, b.record, identities) : (b.record.urls ?? []);
  return { release, binary: b.record, urls, sealed: b.sealed, signers: await trustedSigners(r) };
}

async function openSealed(bytes: Uint8Array, path: string, rec: BinaryRecord, identities: IdentitySet | undefined): Promise<string[]> {
  const urls = await unsealUrls(bytes, path, { identities });
  if (urls === undefined) {
    throw new BootMetaError("BINARY_SEALED", `binary ${rec.sha256.slice(0, 12)} (release ${rec.releaseId}) has sealed storage URLs, and none of the agent's identities opens them (they are for the readers of ${rec.sealedEnv ?? rec.project})`, ExitCode.CouldNotRetrieveKey, {
      data: { sha256: rec.sha256, release: rec.releaseId, sealedEnv: rec.sealedEnv ?? null },
      suggestions: ["give the agent the identity of a reader of that env (--identity FILE, or SOPS_AGE_KEY_FILE)"],
    });
  }
  return urls;
}

/**
 * The paths that decide what is installed that a trust root made the agent read at an older
 * version. Instance records are read the same way, but not warned about: agents report
 * through unsigned commits, so most of them are tainted, and they only weigh in a rollout.
 */
function taintWarnings(view: TrustedView | undefined, t: Target): string[] {
  if (!view) return [];
  const watched = [`${t.project}/channels/${t.channel}.json`, `${t.project}/releases/`, `${t.project}/binaries/`, "keys/signers/", `${t.project}/project.yaml`];
  return [...view.tainted]
    .filter(([p]) => watched.some((w) => (w.endsWith("/") ? p.startsWith(w) : p === w)))
    .map(([p, x]) => `${p} is read at its last trusted version, not as committed: ${x.message}`);
}

export interface RepoSourceOptions {
  trustRoot?: string;
  identities?: IdentitySet;
  env: NodeJS.ProcessEnv;
  cacheDir?: string;
}

export interface ServerSourceOptions {
  token?: string;
  identities?: IdentitySet;
  timeoutMs?: number;
}

/**
 * A meta repository as the source: a work tree is read at its HEAD as it is; a git URL (or a
 * bare repository on disk) through the agent's own cached clone, fetched every step. With a
 * trust root, every record is read through the trusted view.
 */
export class RepoSource implements Source {
  readonly kind = "repo";
  private branch: string | undefined;
  /** What this step's `wanted` fetched, for its report. */
  private opened: { dir: string; commit: string } | undefined;

  private readonly repo: string;
  private readonly t: Target;
  private readonly o: RepoSourceOptions;

  constructor(repo: string, t: Target, o: RepoSourceOptions) {
    this.repo = repo;
    this.t = t;
    this.o = o;
  }

  get shown(): string {
    return this.repo.replace(/\/\/[^/@]*@/, "//");
  }

  /** A URL or a bare repository: followed through a clone of the agent's own. */
  private get remote(): boolean {
    return isUrl(this.repo) || (!existsSync(join(this.repo, ".git")) && existsSync(join(this.repo, "HEAD")) && existsSync(join(this.repo, "objects")));
  }

  private async open(): Promise<{ dir: string; commit: string }> {
    if (!this.remote) {
      const git = await Git.at(this.repo).catch((e: unknown) => Promise.reject(unreachable(this.shown, e)));
      return { dir: git.dir, commit: await git.resolve("HEAD") };
    }
    let stale = false;
    const c = await cachedClone(this.repo, { cacheDir: this.o.cacheDir, env: this.o.env, warn: () => (stale = true) }).catch((e: unknown) => Promise.reject(unreachable(this.shown, e)));
    if (stale) throw unreachable(this.shown, new Error("the fetch failed"));
    const git = await Git.open(c.dir, { isolated: true });
    return { dir: git.dir, commit: await git.resolve(c.at) };
  }

  async wanted(): Promise<Wanted> {
    const { dir, commit } = (this.opened = await this.open());
    const root = this.o.trustRoot;
    return withReader(dir, commit, async (r) => {
      const trusted = root ? await readTrusted(r, dir, root, commit) : undefined;
      const d = await decide(trusted?.reader ?? r, this.t, this.o.identities);
      return { ...d, commit, warnings: taintWarnings(trusted?.view, this.t) };
    });
  }

  /** Through git: a commit only when the state changed (reportInstance), pushed. */
  async report(x: Report): Promise<void> {
    const t = this.t;
    const what = { channel: t.channel, release: x.release, status: x.status, health: x.health, lastError: x.lastError ?? "" };
    if (!this.remote) {
      await reportInstance(this.repo, t.project, t.instance, { ...what, push: undefined });
      return;
    }
    // The step's own fetch: a report right after the decision needs no second one.
    const { dir, commit } = this.opened ?? (await this.open());
    this.opened = undefined;
    const git = await Git.open(dir, { isolated: true });
    this.branch ??= /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec((await git.run(["ls-remote", "--symref", "origin", "HEAD"])).stdout)?.[1] ?? "main";
    await reportInstance(dir, t.project, t.instance, { ...what, onto: { remote: "origin", branch: this.branch, base: commit } });
  }
}

/**
 * The config service as the source (`--server`; production servers need no git access):
 * the channel's binary route decides (with `instance=`, the rollout's answer for this
 * instance), `/v1/signers` gives keys/signers/ at the served commit, and reports go to the
 * instance report route with the agent's token.
 */
export class ServerSource implements Source {
  readonly kind = "server";

  private readonly base: URL;
  private readonly t: Target;
  private readonly o: ServerSourceOptions;

  constructor(base: URL, t: Target, o: ServerSourceOptions) {
    this.base = base;
    this.t = t;
    this.o = o;
  }

  get shown(): string {
    return this.base.origin;
  }

  private async call(path: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(path, this.base);
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000), headers: { accept: "application/json", ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}), ...(init.body ? { "content-type": "application/json" } : {}) } });
    } catch (e) {
      throw unreachable(`the service at ${this.shown}`, e);
    }
    if (res.ok) return res;
    const body = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string; suggestions?: string[] } } | undefined;
    if (res.status >= 500 || !body?.error) throw unreachable(`the service at ${this.shown}`, new Error(`HTTP ${res.status} from ${url.pathname}`));
    const code = body.error.code && Object.hasOwn(ERROR_CODES, body.error.code) ? (body.error.code as ErrorCode) : "CONFIG_SERVER_BAD_RESPONSE";
    throw new BootMetaError(code, `the service at ${this.shown} answered ${url.pathname}: ${body.error.message ?? `HTTP ${res.status}`}`, ERROR_CODES[code].exit, { suggestions: body.error.suggestions ?? [] });
  }

  async wanted(): Promise<Wanted> {
    const t = this.t;
    const q = new URLSearchParams({ os: t.os, arch: t.arch, instance: t.instance });
    const res = await this.call(`/v1/projects/${encodeURIComponent(t.project)}/channels/${encodeURIComponent(t.channel)}/binary?${q}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const release = res.headers.get("boot-meta-release") ?? "";
    const sha256 = res.headers.get("boot-meta-sha256") ?? "";
    const commit = res.headers.get("boot-meta-commit") ?? undefined;
    const sealed = (() => {
      try {
        return "sops" in (JSON.parse(Buffer.from(bytes).toString("utf8")) as object);
      } catch {
        return false;
      }
    })();
    const path = sealed ? recordPath.sealedBinary(t.project, sha256) : recordPath.binary(t.project, sha256);
    const rec = decodeRecord<BinaryRecord>("Binary", bytes, path).value;
    if (rec.sha256 !== sha256 || rec.releaseId !== release || rec.project !== t.project) {
      throw new BootMetaError("CONFIG_SERVER_BAD_RESPONSE", `the service at ${this.shown} sent binary ${rec.sha256.slice(0, 12)} of release ${rec.releaseId}, but its headers say ${sha256.slice(0, 12)} of ${release}`, ExitCode.General);
    }
    const urls = sealed ? await openSealed(bytes, path, rec, this.o.identities) : (rec.urls ?? []);
    return { commit, release, binary: rec, urls, sealed, signers: await this.signers(), warnings: [] };
  }

  private async signers(): Promise<Map<string, string[]>> {
    const res = await this.call("/v1/signers");
    const body = (await res.json()) as { signers?: { name: string; keys: string[] }[] };
    const out = new Map<string, string[]>();
    for (const s of body.signers ?? []) {
      for (const line of s.keys) {
        try {
          const hex = parseSshPublicKey(line).toString("hex");
          out.set(hex, [...(out.get(hex) ?? []), s.name]);
        } catch {
          /* not an ed25519 key: it signs nothing here */
        }
      }
    }
    return out;
  }

  async report(x: Report): Promise<void> {
    const t = this.t;
    await this.call(`/v1/projects/${encodeURIComponent(t.project)}/instances/${encodeURIComponent(t.instance)}/report`, {
      method: "POST",
      body: JSON.stringify({ channel: t.channel, release: x.release, status: x.status, health: x.health, ...(x.lastError ? { lastError: x.lastError } : {}) }),
    });
  }
}
