import { createHash } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";
import { validateName } from "../meta/layout.js";
import { decodeRecord } from "./codec.js";
import { getRelease } from "./releases.js";
import { commitRecords, nowIso, readRecord, recordNotFound, recordPath, requireProject, withReader, type WriteOpts, writeRecord } from "./store.js";
import { Git } from "../meta/git.js";
import type { Channel } from "./types.js";

export interface PromoteOptions extends WriteOpts {
  /** Compare-and-swap: the release the channel must point at now ("" = the channel must not exist). */
  expect?: string;
  /** Roll out to this percentage of instances; the rest stay on the previous release. */
  percent?: number;
  now?: string;
}

/**
 * Points a channel at a release. With `expect`, a compare-and-swap: the check runs inside
 * the commit (and again after a rebase), so when another promotion got there first this
 * fails with CHANNEL_CONFLICT naming what the channel points at now.
 */
export async function promoteChannel(repoDir: string, project: string, channel: string, release: string, o: PromoteOptions = {}) {
  validateName("env", channel);
  if (o.percent !== undefined && (!Number.isInteger(o.percent) || o.percent < 1 || o.percent > 100)) {
    throw new BootMetaError("INVALID_ARGUMENT", `--percent must be a whole number from 1 to 100, got ${o.percent}`, ExitCode.InvalidArgument);
  }
  return commitRecords(repoDir, o, (v: { from: string | null; channel: Channel }) => `channel: ${project}/${channel} → ${v.channel.releaseId}${v.channel.rollout ? ` (${v.channel.rollout.percent}%)` : ""}\n\nfrom ${v.from ?? "(new channel)"}\n`, async (tx) => {
    await requireProject(tx, project);
    const rel = await getRelease(tx, project, release);
    const path = recordPath.channel(project, channel);
    const current = await readRecord<Channel>(tx, "Channel", path, { project, name: channel });
    const now = current?.value.releaseId ?? "";
    if (o.expect !== undefined && o.expect !== now) {
      throw new BootMetaError("CHANNEL_CONFLICT", `${project}/${channel} points at ${now || "nothing (it does not exist)"}, not ${o.expect || "nothing"}: another promotion got there first`, ExitCode.Conflict, {
        data: { channel, expected: o.expect, current: now || null },
        suggestions: [`look at \`boot-meta channel history ${project} ${channel}\`, then promote again with --expect ${now || '""'}`],
      });
    }
    const next: Channel = {
      project,
      name: channel,
      releaseId: rel.id,
      rollout: o.percent !== undefined && o.percent < 100 && now && now !== rel.id ? { percent: o.percent, previousReleaseId: now } : undefined,
      updatedBy: tx.author,
      updatedAt: o.now ?? nowIso(),
    };
    writeRecord(tx, "Channel", path, next, current?.unknown);
    return { from: now || null, channel: next };
  });
}

export async function showChannel(repoDir: string, project: string, channel: string, at?: string): Promise<{ commit: string; channel: Channel }> {
  validateName("project", project);
  validateName("env", channel);
  return withReader(repoDir, at, async (r) => {
    const c = await readRecord<Channel>(r, "Channel", recordPath.channel(project, channel), { project, name: channel });
    if (!c) throw recordNotFound(`channel ${project}/${channel}`, `promote a release to it: \`boot-meta channel promote ${project} ${channel} RELEASE\``);
    return { commit: r.commit, channel: c.value };
  });
}

export interface ChannelChange {
  commit: string;
  author: string;
  date: string;
  from: string | null;
  to: string | null;
  percent?: number;
}

/** Every promotion of a channel, newest first, from git history. */
export async function channelHistory(repoDir: string, project: string, channel: string, o: { limit?: number } = {}): Promise<ChannelChange[]> {
  if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit < 1)) throw new BootMetaError("INVALID_ARGUMENT", `--limit must be 1 or more, got ${o.limit}`, ExitCode.InvalidArgument);
  validateName("project", project);
  validateName("env", channel);
  const git = await Git.at(repoDir);
  const path = recordPath.channel(project, channel);
  // One more than asked for: the oldest entry shown needs the one before it for its "from".
  const log = await git.log({ path, limit: o.limit === undefined ? undefined : o.limit + 1 });
  const files = await git.readBlobs(log.map((e) => `${e.hash}:${path}`));
  const out: ChannelChange[] = log.map((entry, i) => {
    const bytes = files[i];
    const c = bytes ? decodeRecord<Channel>("Channel", bytes, path).value : undefined;
    return { commit: entry.hash, author: `${entry.author} <${entry.email}>`, date: entry.date, from: null, to: c?.releaseId ?? null, percent: c?.rollout?.percent };
  });
  for (let i = 0; i < out.length; i++) (out[i] as ChannelChange).from = out[i + 1]?.to ?? null;
  return o.limit === undefined ? out : out.slice(0, o.limit);
}

/** Promotes the release the channel pointed at before the current one (a recorded promotion). */
export async function rollbackChannel(repoDir: string, project: string, channel: string, o: WriteOpts = {}) {
  // The recent history is almost always enough; the whole of it only when it is not.
  let h = await channelHistory(repoDir, project, channel, { limit: 50 });
  const current = h[0]?.to;
  if (h.length === 50 && !h.some((c) => c.to !== current)) h = await channelHistory(repoDir, project, channel);
  const previous = h.find((c) => c.to !== current)?.to;
  if (!current || !previous) throw new BootMetaError("CHANNEL_NO_PREVIOUS", `${project}/${channel} has no earlier release to roll back to`, ExitCode.General);
  return promoteChannel(repoDir, project, channel, previous, { ...o, expect: current });
}

/**
 * Whether an instance runs the channel's new release during a rollout: a stable bucket from
 * sha256(instanceId:releaseId), so the answer never changes for the same instance and release.
 */
export function inRollout(instanceId: string, releaseId: string, percent: number): boolean {
  const h = createHash("sha256").update(`${instanceId}:${releaseId}`).digest();
  return h.readUInt32BE(0) % 100 < percent;
}

/** The release an instance should run on a channel. */
export function releaseFor(instanceId: string, c: Channel): string {
  if (!c.rollout || !c.rollout.previousReleaseId) return c.releaseId;
  return inRollout(instanceId, c.releaseId, c.rollout.percent) ? c.releaseId : c.rollout.previousReleaseId;
}

