import { setTimeout as sleep } from "node:timers/promises";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { configBool, Git } from "../meta/git.js";
import { validateName } from "../meta/layout.js";
import { withReader } from "../meta/reader.js";
import { readTrusted } from "../meta/trusted-reader.js";
import { rejectedChange, trustedView } from "../meta/verify.js";
import { channelHistory, getChannel, promoteChannel, rollbackChannel } from "../records/channels.js";
import { recordPath } from "../records/files.js";
import { fleetOf, readInstances } from "../records/fleet.js";
import { getRelease } from "../records/releases.js";
import { rolloutOf } from "../records/rollout.js";
import type { Channel, Instance } from "../records/types.js";

/**
 * The captain (issue 13): drives a channel to a release in waves. Each wave is a
 * compare-and-swap promotion (one commit, so `channel history` is the audit log); then it
 * waits until the instances the rollout gives the release report it healthy (at least
 * `minHealthy` percent of them), then for the soak. A wave that fails (an instance unhealthy
 * or rolled back on the release, so the rest cannot reach `minHealthy`, or the wave timeout)
 * rolls the channel back to the release it ran before the captain began and throws
 * CAPTAIN_ROLLOUT_FAILED. It keeps no state of its own: started again with the same
 * arguments it reads where the channel is and continues from that wave, crediting the soak
 * from that promotion's recorded time. Someone else moving the channel stops it
 * (CAPTAIN_CHANNEL_MOVED) without touching their change. Gates apply: it promotes like
 * anyone else (CHANNEL_GATE_*).
 */

/** The clock the captain waits on: passed in, so tests drive time instead of sleeping. */
export interface CaptainClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: CaptainClock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

export interface CaptainOptions {
  project: string;
  channel: string;
  /** The release to roll out (id or version). */
  to: string;
  /** Rollout percentages, increasing, each 1-100 (e.g. 1, 10, 50, 100). */
  waves: number[];
  /** How long each wave must stay healthy before the next. */
  soakMs: number;
  /** The percentage of a wave's instances that must report the release healthy (default 100). */
  minHealthy?: number;
  /** How long a wave may take to become healthy (default 10 minutes). */
  waveTimeoutMs?: number;
  /** How often to read the repository (default 5 seconds). */
  pollMs?: number;
  /** Push each promotion; default: git config `boot-meta.push`. Required when the repository has a remote. */
  push?: boolean;
  author?: string;
  /**
   * Act only on what allowed signers wrote (README "Signed history"): instance reports and the
   * channel are read at their last trusted version when a commit the rules do not allow touched
   * them, so forged reports neither push a release on nor stop it.
   */
  trustRoot?: string;
  clock?: CaptainClock;
  onProgress?: (p: CaptainProgress) => void;
}

export type CaptainProgress =
  | { phase: "resume"; percent: number; from: string }
  | { phase: "promote"; percent: number; commit: string | null }
  | { phase: "wait"; percent: number; healthy: number; needed: number; instances: number; waitedMs: number }
  | { phase: "soak"; percent: number; healthy: number; needed: number; instances: number; remainingMs: number }
  | { phase: "fetch-failed"; message: string }
  | { phase: "untrusted"; path: string; message: string }
  | { phase: "rollback"; to: string };

export interface CaptainWave {
  percent: number;
  /** The promotion's commit; null when the channel was already there (a resumed wave). */
  commit: string | null;
  instances: number;
  healthy: number;
}

export interface CaptainResult {
  project: string;
  channel: string;
  /** The release the channel ran before the captain began (null when it never ran another). */
  from: string | null;
  to: string;
  /** Started again on a rollout already under way. */
  resumed: boolean;
  waves: CaptainWave[];
}

/** What an instance says about itself, for messages (lastError: the agent's, once its records carry it). */
export interface InstanceReport {
  id: string;
  releaseId: string | null;
  health: string | null;
  status: string | null;
  lastError: string | null;
}

const report = (id: string, i: Instance | undefined): InstanceReport => ({
  id,
  releaseId: i?.releaseId ?? null,
  health: i?.health || null,
  status: i?.status || null,
  lastError: (i as (Instance & { lastError?: string }) | undefined)?.lastError || null,
});

const FAILED_HEALTH = new Set(["unhealthy", "failed"]);
const FAILED_STATUS = new Set(["failed", "rolled-back", "rolledback", "rollback"]);

/**
 * Whether an instance of the wave has failed the release: it reports it unhealthy, or it
 * went back to another release with a failed status since the wave began (an agent that
 * rolled back).
 */
function failedOn(i: Instance | undefined, releaseId: string, since: number): boolean {
  if (!i) return false;
  if (i.releaseId === releaseId) return FAILED_HEALTH.has(i.health ?? "") || FAILED_STATUS.has(i.status ?? "");
  return FAILED_STATUS.has(i.status ?? "") && Date.parse(i.changedAt) >= since - 1000;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

export function humanMs(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600}h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60}m`;
  return s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
}

function invalid(message: string): BootMetaError {
  return new BootMetaError("INVALID_ARGUMENT", message, ExitCode.InvalidArgument);
}

function checkOptions(o: CaptainOptions): void {
  validateName("project", o.project);
  validateName("env", o.channel);
  if (o.waves.length === 0 || o.waves.some((w, i) => !Number.isInteger(w) || w < 1 || w > 100 || (i > 0 && w <= (o.waves[i - 1] as number)))) {
    throw invalid(`--waves must be increasing whole percentages from 1 to 100 (like 1,10,50,100), got ${o.waves.join(",")}`);
  }
  if (!(o.soakMs >= 0)) throw invalid(`--soak must be a duration of zero or more, got ${o.soakMs} ms`);
  const mh = o.minHealthy ?? 100;
  if (!(mh > 0 && mh <= 100)) throw invalid(`--min-healthy must be a percentage above 0 and at most 100, got ${mh}`);
  if (o.waveTimeoutMs !== undefined && !(o.waveTimeoutMs > 0)) throw invalid(`--wave-timeout must be more than zero, got ${o.waveTimeoutMs} ms`);
  if (o.pollMs !== undefined && !(o.pollMs > 0)) throw invalid(`--poll must be more than zero, got ${o.pollMs} ms`);
}

/** The repository's view the captain reads: the remote's branch when there is one (fetched), else HEAD. */
interface Repo {
  dir: string;
  push: boolean;
  trustRoot: string | undefined;
  onProgress: CaptainOptions["onProgress"];
  /** Tainted paths already reported. */
  warned: Set<string>;
  /** Fetches the remote's branch and moves the local branch up to it when it can (fast-forward only); the commit to read. */
  sync(): Promise<string | undefined>;
}

async function openRepo(dir: string, o: CaptainOptions): Promise<Repo> {
  const git = await Git.at(dir);
  const branch = await git.branch();
  const settings = await git.settings();
  const remote = settings.config.get(`branch.${branch}.remote`) ?? (settings.config.has("remote.origin.url") ? "origin" : undefined);
  const push = o.push ?? configBool(settings.config.get("boot-meta.push")) === true;
  if (remote && !push) {
    throw invalid(`the meta repository ${dir} has a remote (${remote}), where the fleet reads its channel: a captain that does not push would wait for instances that never see its promotions. Give --push (or git config boot-meta.push true)`);
  }
  const ref = `refs/boot-meta/captain/${Buffer.from(branch).toString("hex")}`;
  return {
    dir,
    push,
    trustRoot: o.trustRoot,
    onProgress: o.onProgress,
    warned: new Set(),
    async sync() {
      if (!remote) return undefined;
      try {
        await git.fetch(["-q", "--no-auto-maintenance", "--no-write-fetch-head", remote, `+refs/heads/${branch}:${ref}`], remote);
      } catch (e) {
        // The remote is briefly away: keep reading the last fetched state; the wave timeout still runs.
        o.onProgress?.({ phase: "fetch-failed", message: e instanceof Error ? e.message : String(e) });
      }
      const at = await git.resolve(ref).catch(() => undefined);
      // Our promotions land locally and on the remote alike; what moves the remote ahead is the
      // fleet's reports. A fast-forward keeps HEAD's history (read by resume and rollback)
      // current; git refuses it rather than touch a user's uncommitted files, and then the
      // fetched ref is read all the same.
      if (at) await git.run(["merge", "--ff-only", "-q", at], { reject: false });
      return at;
    },
  };
}

interface Snapshot {
  channel: Channel;
  instances: Map<string, Instance>;
  fleet: string[];
}

async function snapshot(repo: Repo, project: string, channel: string): Promise<Snapshot> {
  const at = await repo.sync();
  return withReader(repo.dir, at, async (r0) => {
    let r = r0;
    if (repo.trustRoot) {
      const trusted = await readTrusted(r0, repo.dir, repo.trustRoot, r0.commit);
      for (const [path, t] of trusted.view.tainted) {
        if (!path.startsWith(`${project}/`) || repo.warned.has(path)) continue;
        repo.warned.add(path);
        repo.onProgress?.({ phase: "untrusted", path, message: t.message });
      }
      r = trusted.reader;
    }
    const c = await getChannel(r, project, channel);
    const all = await readInstances(r, project);
    return { channel: c, instances: new Map(all.map((i) => [i.id, i])), fleet: fleetOf(all, channel) };
  });
}

const percentOf = (c: Channel) => (c.rollout?.previousReleaseId ? c.rollout.percent : 100);

function moved(project: string, channel: string, toId: string, now: Channel, why: string): BootMetaError {
  return new BootMetaError("CAPTAIN_CHANNEL_MOVED", `${project}/${channel} was changed by someone else while the captain rolled out ${toId}: ${why} (it now points at ${now.releaseId}${now.rollout?.previousReleaseId ? ` for ${now.rollout.percent}%` : ""}, generation ${now.generation ?? "?"}, by ${now.updatedBy ?? "?"}). The captain stopped and rolled nothing back`, ExitCode.Conflict, {
    data: { project, channel, release: toId, current: now.releaseId, percent: percentOf(now), generation: now.generation ?? null },
    suggestions: [`see \`boot-meta channel history ${project} ${channel}\`; to continue the rollout from where the channel is, run the captain again`],
  });
}

/** Drives the rollout; see the comment at the top of this file. */
export async function runCaptain(repoDir: string, o: CaptainOptions): Promise<CaptainResult> {
  checkOptions(o);
  const { project, channel } = o;
  const clock = o.clock ?? systemClock;
  const minHealthy = o.minHealthy ?? 100;
  const waveTimeoutMs = o.waveTimeoutMs ?? 600_000;
  const pollMs = o.pollMs ?? 5000;
  const repo = await openRepo(repoDir, o);
  let snap = await snapshot(repo, project, channel);
  const toId = await withReader(repoDir, undefined, async (r) => (await getRelease(r, project, o.to)).id);
  const write = { push: repo.push, author: o.author };

  // Where the rollout stands, from the repository alone.
  let from: string | null;
  let idx = 0;
  let resumedAt: number | undefined;
  const resumed = snap.channel.releaseId === toId;
  if (!resumed) from = snap.channel.releaseId;
  else {
    // The release before the newest run of promotions to `to` is where a failure goes back to.
    const h = await channelHistory(repoDir, project, channel, { limit: 500 });
    // Under a trust root, a history entry a commit wrote without the right (a forged promotion
    // just before the rollout) is no point to go back to: the target is chosen from allowed ones.
    const view = repo.trustRoot ? await trustedView(repoDir, { root: repo.trustRoot }) : undefined;
    const path = recordPath.channel(project, channel);
    from = h.find((c) => c.to !== toId && !(view && rejectedChange(view, c.commit, path)))?.to ?? null;
    const at = percentOf(snap.channel);
    const i = o.waves.indexOf(at);
    if (i >= 0 || at > (o.waves.at(-1) as number)) {
      idx = i >= 0 ? i : o.waves.length - 1;
      resumedAt = Date.parse(snap.channel.updatedAt);
    } else idx = o.waves.findIndex((w) => w > at);
    o.onProgress?.({ phase: "resume", percent: at, from: from ?? "(none)" });
  }

  const waves: CaptainWave[] = [];
  let generation = snap.channel.generation;
  for (let i = idx; i < o.waves.length; i++) {
    const percent = o.waves[i] as number;
    let commit: string | null = null;
    let promotedAt: number;
    const credited = i === idx && resumedAt !== undefined;
    if (credited) promotedAt = resumedAt as number;
    else {
      snap = await snapshot(repo, project, channel);
      if (generation !== undefined && snap.channel.generation !== generation) throw moved(project, channel, toId, snap.channel, "its generation changed since the captain last wrote or read it");
      promotedAt = clock.now();
      try {
        const r = await promoteChannel(repoDir, project, channel, toId, { expect: snap.channel.releaseId, percent: percent === 100 ? undefined : percent, now: iso(promotedAt), trustRoot: o.trustRoot, ...write });
        commit = r.commit ?? null;
        generation = r.value.channel.generation;
      } catch (e) {
        if (isBootMetaError(e, "CHANNEL_CONFLICT")) throw moved(project, channel, toId, (await snapshot(repo, project, channel)).channel, "a compare-and-swap promotion found it elsewhere");
        throw e;
      }
      o.onProgress?.({ phase: "promote", percent, commit });
    }
    const outcome = await watchWave({ repo, o, clock, toId, percent, promotedAt, credited, minHealthy, waveTimeoutMs, pollMs, generation });
    if ("failed" in outcome) {
      const c = outcome.snap.channel;
      if (from === null) {
        throw new BootMetaError("CAPTAIN_ROLLOUT_FAILED", `the ${percent}% wave of ${toId} on ${project}/${channel} failed: ${outcome.why}; the channel ran no other release before, so nothing was rolled back`, ExitCode.General, {
          data: { project, channel, release: toId, percent, instances: outcome.failed, rolledBackTo: null },
          suggestions: [`look at the instances' records (\`boot-meta instance list ${project}\`), then promote a release that works`],
        });
      }
      o.onProgress?.({ phase: "rollback", to: from });
      let rollback: string | null;
      try {
        rollback = (await rollbackChannel(repoDir, project, channel, { to: from, expect: toId, now: iso(clock.now()), trustRoot: o.trustRoot, ...write })).commit ?? null;
      } catch (e) {
        if (isBootMetaError(e, "CHANNEL_CONFLICT")) throw moved(project, channel, toId, (await snapshot(repo, project, channel)).channel, "it changed as the captain was rolling it back");
        throw e;
      }
      throw new BootMetaError("CAPTAIN_ROLLOUT_FAILED", `the ${percent}% wave of ${toId} on ${project}/${channel} failed: ${outcome.why}. The captain rolled ${project}/${channel} back to ${from}${rollback ? ` (commit ${rollback.slice(0, 12)})` : ""}`, ExitCode.General, {
        data: { project, channel, release: toId, percent, instances: outcome.failed, rolledBackTo: from, rollbackCommit: rollback, generation: c.generation ?? null },
        suggestions: [`see what the instances report: \`boot-meta instance list ${project}\`; the audit log: \`boot-meta channel history ${project} ${channel}\``],
      });
    }
    waves.push({ percent, commit, instances: outcome.instances, healthy: outcome.healthy });
  }
  return { project, channel, from, to: toId, resumed, waves };
}

interface WaveWatch {
  repo: Repo;
  o: CaptainOptions;
  clock: CaptainClock;
  toId: string;
  percent: number;
  promotedAt: number;
  /** A resumed wave: its soak counts from its promotion, and its timeout from now. */
  credited: boolean;
  minHealthy: number;
  waveTimeoutMs: number;
  pollMs: number;
  generation: number | undefined;
}

type WaveOutcome = { instances: number; healthy: number } | { failed: InstanceReport[]; why: string; snap: Snapshot };

async function watchWave(w: WaveWatch): Promise<WaveOutcome> {
  const { o, clock, toId, percent } = w;
  const started = w.credited ? clock.now() : w.promotedAt;
  let soakFrom: number | undefined;
  for (;;) {
    const snap = await snapshot(w.repo, o.project, o.channel);
    const c = snap.channel;
    if (c.releaseId !== toId || percentOf(c) !== percent || (w.generation !== undefined && c.generation !== w.generation)) {
      throw moved(o.project, o.channel, toId, c, `the captain had it at ${toId} for ${percent}%`);
    }
    const wave = [...rolloutOf(c, snap.fleet).onRelease].sort();
    const total = wave.length;
    const needed = total === 0 ? 0 : Math.max(1, Math.ceil((w.minHealthy * total) / 100 - 1e-9));
    const healthy = wave.filter((id) => snap.instances.get(id)?.releaseId === toId && snap.instances.get(id)?.health === "healthy");
    const failed = wave.filter((id) => failedOn(snap.instances.get(id), toId, w.promotedAt));
    const now = clock.now();
    if (total - failed.length < needed) {
      const list = failed.map((id) => report(id, snap.instances.get(id)));
      const words = list.map((r) => `${r.id} ${r.releaseId === toId ? `reports ${r.health ?? r.status}` : `went back to ${r.releaseId} (${r.status})`}${r.lastError ? `: ${r.lastError}` : ""}`);
      return { failed: list, snap, why: `${words.join("; ")} — ${total - failed.length} of ${total} can still be healthy, and --min-healthy ${w.minHealthy}% needs ${needed}` };
    }
    if (healthy.length >= needed) {
      soakFrom ??= w.credited ? w.promotedAt : now;
      const remainingMs = soakFrom + (o.soakMs ?? 0) - now;
      if (remainingMs <= 0) return { instances: total, healthy: healthy.length };
      o.onProgress?.({ phase: "soak", percent, healthy: healthy.length, needed, instances: total, remainingMs });
      await clock.sleep(Math.min(w.pollMs, remainingMs));
      continue;
    }
    // Not (or no longer) healthy enough: the soak starts again once it is.
    soakFrom = undefined;
    if (now - started >= w.waveTimeoutMs) {
      const late = wave.filter((id) => !healthy.includes(id)).map((id) => report(id, snap.instances.get(id)));
      const words = late.slice(0, 20).map((r) => `${r.id} (${r.releaseId ? `on ${r.releaseId}, ${r.health ?? "no health"}${r.status ? `, ${r.status}` : ""}` : "no record"}${r.lastError ? `: ${r.lastError}` : ""})`);
      return { failed: late, snap, why: `${healthy.length} of ${total} instances reported ${toId} healthy within --wave-timeout ${humanMs(w.waveTimeoutMs)} (--min-healthy ${w.minHealthy}% needs ${needed}); not healthy: ${words.join(", ")}${late.length > 20 ? ", …" : ""}` };
    }
    o.onProgress?.({ phase: "wait", percent, healthy: healthy.length, needed, instances: total, waitedMs: now - started });
    await clock.sleep(Math.min(w.pollMs, Math.max(1, started + w.waveTimeoutMs - now)));
  }
}
