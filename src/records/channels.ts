import { BootMetaError, ExitCode } from "../errors.js";
import type { CommitResult } from "../meta/commit.js";
import { META_CONFIG, validateName } from "../meta/layout.js";
import { Git } from "../meta/git.js";
import { trustedReader } from "../meta/trusted-reader.js";
import { commitSigners, rejectedChange, trustedView } from "../meta/verify.js";
import { decodeRecord } from "./codec.js";
import { fleetOf, readInstances } from "./fleet.js";
import { gateState, type GateState, metaConfigAt, requireGates } from "./gates.js";
import { promotionGate } from "../meta/model.js";
import { getRelease } from "./releases.js";
import { type Rollout as RolloutDecision, rolloutOf } from "./rollout.js";
import { channelsDir, commitRecords, decodeAt, nowIso, type Reader, readRecord, recordNotFound, recordPath, requireProject, withReader, type WriteOpts, writeRecord } from "./files.js";
import type { Channel, Rollout } from "./types.js";

export interface PromoteOptions extends WriteOpts {
  /** Compare-and-swap: the release the channel must point at now ("" = the channel must not exist). */
  expect?: string;
  /**
   * Roll out to this percentage of the channel's instances (1-100); the others run the
   * channel's last release that had all of them. The same release again with another percent
   * widens (or narrows) its rollout; without a percent, or at 100, it has all of them.
   */
  percent?: number;
  now?: string;
  /**
   * Judge the gates on what allowed signers wrote, verified from this commit: an approval a
   * commit its approver did not sign is read as absent (README "Signed history").
   */
  trustRoot?: string;
}

function conflict(project: string, channel: string, expected: string, current: string): BootMetaError {
  return new BootMetaError("CHANNEL_CONFLICT", `${project}/${channel} points at ${current || "nothing (it does not exist)"}, not ${expected || "nothing"}: another promotion got there first`, ExitCode.Conflict, {
    data: { channel, expected, current: current || null },
    suggestions: [`look at \`boot-meta channel history ${project} ${channel}\`, then promote again with --expect ${current || '""'}`],
  });
}

/** The rollout a promotion writes, from what the channel has now. */
function nextRollout(project: string, channel: string, current: Channel | undefined, releaseId: string, percent: number | undefined): Rollout | undefined {
  if (percent !== undefined && (!Number.isInteger(percent) || percent < 1 || percent > 100)) {
    throw new BootMetaError("INVALID_ARGUMENT", `--percent must be a whole number from 1 to 100, got ${percent}`, ExitCode.InvalidArgument);
  }
  if (percent === undefined || percent === 100) return undefined;
  const invalid = (why: string, fix: string) =>
    new BootMetaError("CHANNEL_ROLLOUT_INVALID", `cannot roll ${releaseId} out to ${percent}% of ${project}/${channel}: ${why}`, ExitCode.InvalidArgument, { data: { channel, release: releaseId, percent }, suggestions: [fix] });
  if (!current) throw invalid("the channel is new, so the other instances would have no release to stay on", `promote it without --percent first: \`boot-meta channel promote ${project} ${channel} RELEASE\``);
  const stays = current.rollout?.previousReleaseId;
  if (current.releaseId === releaseId) {
    // Widening (or narrowing) the rollout under way: the same instances keep the release.
    if (stays) return { percent, previousReleaseId: stays };
    throw invalid("the channel already gives it to all its instances", `to go back, \`boot-meta channel rollback ${project} ${channel}\``);
  }
  // A new release during a rollout: the rest stay on the release that had all of them.
  return { percent, previousReleaseId: stays && stays !== releaseId ? stays : current.releaseId };
}

/**
 * The generation of a channel state. Records written before generations were recorded count
 * their place in the channel file's history instead.
 */
async function generationOf(repoDir: string, commit: string | undefined, path: string, c: Channel): Promise<number> {
  if (c.generation) return c.generation;
  if (!commit) return 1;
  const git = await Git.at(repoDir);
  return Number((await git.run(["rev-list", "--count", commit, "--", path])).stdout.trim()) || 1;
}

/** Where a state stands: its own generation, or, for a rollback, the generation it restored. */
const positionOf = (c: Channel, generation: number) => c.restores || generation;

/**
 * Points a channel at a release. With `expect`, a compare-and-swap: the check runs inside
 * the commit (and again after a rebase), so when another promotion got there first this
 * fails with CHANNEL_CONFLICT naming what the channel points at now. Promoting what the
 * channel has already (same release, same rollout) writes nothing. A promotion the gates of
 * `.boot-meta.yaml` refuse (gates.ts) throws CHANNEL_GATE_APPROVALS or CHANNEL_GATE_SOAK and
 * writes nothing; `now` is also the clock the soak is measured against.
 */
export async function promoteChannel(repoDir: string, project: string, channel: string, release: string, o: PromoteOptions = {}): Promise<CommitResult<{ from: string | null; channel: Channel; changed: boolean }>> {
  validateName("env", channel);
  return commitRecords(repoDir, o, (v: { from: string | null; channel: Channel }) => `channel: ${project}/${channel} → ${v.channel.releaseId}${v.channel.rollout ? ` (${v.channel.rollout.percent}%)` : ""}\n\nfrom ${v.from ?? "(new channel)"}\n`, async (tx) => {
    await requireProject(tx, project);
    const rel = await getRelease(tx, project, release);
    const path = recordPath.channel(project, channel);
    const current = await readRecord<Channel>(tx, "Channel", path, { project, name: channel });
    const cur = current?.value;
    const now = cur?.releaseId ?? "";
    if (o.expect !== undefined && o.expect !== now) throw conflict(project, channel, o.expect, now);
    const rollout = nextRollout(project, channel, cur, rel.id, o.percent);
    if (cur && cur.releaseId === rel.id && cur.rollout?.percent === rollout?.percent && cur.rollout?.previousReleaseId === rollout?.previousReleaseId) {
      return { from: now, channel: cur, changed: false };
    }
    // The gates in .boot-meta.yaml (gates.ts), judged on the state this commit builds on.
    requireGates(project, channel, await gateState(repoDir, tx, project, channel, rel.id, o.now ? Date.parse(o.now) : Date.now(), o.trustRoot));
    const generation = cur ? await generationOf(repoDir, tx.base, path, cur) : 0;
    const next: Channel = {
      project,
      name: channel,
      releaseId: rel.id,
      rollout,
      updatedBy: tx.author,
      updatedAt: o.now ?? nowIso(),
      generation: generation + 1,
      backTo: cur ? positionOf(cur, generation) : undefined,
    };
    writeRecord(tx, "Channel", path, next, current?.unknown);
    return { from: now || null, channel: next, changed: true };
  });
}

/**
 * A channel's record at the reader's commit. Throws META_INVALID_NAME for a name that is not
 * a channel's (`..`, an empty segment), CHANNEL_NOT_FOUND (naming the channels there are) when
 * there is none, RECORD_INVALID when its file does not hold this channel.
 */
export async function getChannel(r: Reader, project: string, channel: string): Promise<Channel> {
  validateName("project", project);
  validateName("env", channel);
  const c = await readRecord<Channel>(r, "Channel", recordPath.channel(project, channel), { project, name: channel });
  if (c) return c.value;
  const root = channelsDir(project);
  const known = (await r.list(root)).filter((p) => p.endsWith(".json")).map((p) => p.slice(root.length + 1, -".json".length));
  throw new BootMetaError("CHANNEL_NOT_FOUND", `there is no channel ${channel} in ${project} (${recordPath.channel(project, channel)}); ${known.length ? `its channels are ${known.slice(0, 20).join(", ")}${known.length > 20 ? ", …" : ""}` : `${project} has no channel yet`}`, ExitCode.General, {
    data: { project, channel, channels: known.slice(0, 100) },
    suggestions: [...(known.length ? ["check the channel's name"] : []), `promote a release to it: \`boot-meta channel promote ${project} ${channel} RELEASE\``],
  });
}

export interface ShowChannelResult {
  commit: string;
  channel: Channel;
  /** The recorded instances of the channel, and how many of them get its release. */
  fleet: { instances: number; onRelease: number };
  /** With `instance`: the release that instance is to run, and whether it has a record on this channel. */
  instance?: { id: string; releaseId: string; recorded: boolean };
  /**
   * The gates on promotions to the channel (`promotion:` in .boot-meta.yaml) and whether a
   * release meets them: `release`, or by default the one the gate's `after` channel runs (the
   * next to come), else the channel's own.
   */
  gates?: GateState;
  /**
   * With a trust root: the paths this answer read at their last trusted version instead of as
   * committed (a change the rules do not allow touched them), and why.
   */
  untrusted?: { path: string; message: string }[];
}

/** `boot-meta channel show`: the channel, its rollout over its fleet, and optionally what one instance gets. */
export async function showChannel(repoDir: string, project: string, channel: string, o: { at?: string; instance?: string; release?: string; now?: string; trustRoot?: string } = {}): Promise<ShowChannelResult> {
  validateName("project", project);
  validateName("env", channel);
  if (o.instance !== undefined) validateName("principal", o.instance);
  return withReader(repoDir, o.at, async (r0) => {
    // With a trust root, everything below (the channel, its fleet, the rules, the gate's `after`
    // channel, the approvals) is what allowed signers wrote, as promote and the agent read it.
    let r: typeof r0 = r0;
    let untrusted: { path: string; message: string }[] | undefined;
    if (o.trustRoot) {
      const view = await trustedView(repoDir, { root: o.trustRoot, head: r0.commit });
      r = trustedReader(r0, view.tainted, async (id) => (await r0.git.readBlobs([id]))[0]);
      untrusted = [];
      const concerns = (path: string) => path === META_CONFIG || path.startsWith(`${project}/channels/`) || path.startsWith(`${project}/instances/`) || path.startsWith(`${project}/approvals/${channel}/`);
      for (const [path, t] of view.tainted) if (concerns(path)) untrusted.push({ path, message: t.message });
      untrusted.sort((a, b) => (a.path < b.path ? -1 : 1));
    }
    const c = await getChannel(r, project, channel);
    const fleet = fleetOf(await readInstances(r, project), channel);
    const rollout: RolloutDecision = rolloutOf(c, fleet);
    const instance = o.instance === undefined ? undefined : { id: o.instance, releaseId: rollout.releaseFor(o.instance), recorded: fleet.includes(o.instance) };
    const gate = promotionGate(await metaConfigAt(r), project, channel);
    let candidate = o.release === undefined ? undefined : (await getRelease(r, project, o.release)).id;
    if (gate && candidate === undefined && gate.gate.after !== undefined) candidate = (await readRecord<Channel>(r, "Channel", recordPath.channel(project, gate.gate.after), { project, name: gate.gate.after }))?.value.releaseId;
    // `r` is the trusted view already: the gates are judged on it as they stand.
    const gates = gate ? await gateState(repoDir, r, project, channel, candidate ?? c.releaseId, o.now ? Date.parse(o.now) : Date.now()) : undefined;
    return { commit: r0.commit, channel: c, fleet: { instances: rollout.fleet, onRelease: rollout.onRelease.size }, ...(instance ? { instance } : {}), ...(gates ? { gates } : {}), ...(untrusted?.length ? { untrusted } : {}) };
  });
}

/** One state of a channel in its history, newest first. */
interface ChannelState {
  commit: string;
  author: string;
  date: string;
  /** undefined where the commit removed the channel file */
  channel: Channel | undefined;
  bytes: Uint8Array | undefined;
  generation: number;
  /** The generation a rollback from this state restores (0: none). */
  backTo: number;
}

/** The states of a channel from `git log` of its file, newest first (the newest `limit`, or all). */
async function channelStates(repoDir: string, project: string, channel: string, limit?: number): Promise<ChannelState[]> {
  const git = await Git.at(repoDir);
  const path = recordPath.channel(project, channel);
  const log = await git.log({ path, limit });
  const files = await git.readBlobs(log.map((e) => `${e.hash}:${path}`));
  const decoded = files.map((bytes) => (bytes ? decodeRecord<Channel>("Channel", bytes, path).value : undefined));
  // Records from before generations: their place in the file's history is their generation.
  const total = decoded.some((c) => c && !c.generation) ? (limit === undefined || log.length < limit ? log.length : Number((await git.run(["rev-list", "--count", "HEAD", "--", path])).stdout.trim())) : 0;
  return log.map((e, i) => {
    const c = decoded[i];
    const generation = c?.generation || total - i;
    return { commit: e.hash, author: `${e.author} <${e.email}>`, date: e.date, channel: c, bytes: files[i], generation, backTo: c?.generation ? (c.backTo ?? 0) : generation - 1 };
  });
}

export interface ChannelChange {
  commit: string;
  author: string;
  date: string;
  from: string | null;
  to: string | null;
  percent?: number;
  /** During a rollout, the release the other instances stay on. */
  previousReleaseId?: string;
  generation: number;
  /** A rollback's: the generation whose release and rollout it restored. */
  restores?: number;
  /**
   * Who signed the commit (the principal whose key in keys/ at its parent did; null when none
   * did): who really made the change, where `author` is git's author field, which anyone sets.
   */
  signedBy: string | null;
  /** Why no principal signed it (verify.ts's reasons: unsigned, unknown-signer, …). */
  unsignedReason?: string;
}

/** Every promotion (and rollback) of a channel, newest first, from git history. */
export async function channelHistory(repoDir: string, project: string, channel: string, o: { limit?: number } = {}): Promise<ChannelChange[]> {
  if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit < 1)) throw new BootMetaError("INVALID_ARGUMENT", `--limit must be 1 or more, got ${o.limit}`, ExitCode.InvalidArgument);
  validateName("project", project);
  validateName("env", channel);
  // One more than asked for: the oldest entry shown needs the one before it for its "from".
  const states = await channelStates(repoDir, project, channel, o.limit === undefined ? undefined : o.limit + 1);
  const signers = await commitSigners(repoDir, states.map((s) => s.commit));
  const out: ChannelChange[] = states.map((s, i) => ({
    commit: s.commit,
    author: s.author,
    date: s.date,
    from: states[i + 1]?.channel?.releaseId ?? null,
    to: s.channel?.releaseId ?? null,
    percent: s.channel?.rollout?.previousReleaseId ? s.channel.rollout.percent : undefined,
    previousReleaseId: s.channel?.rollout?.previousReleaseId || undefined,
    generation: s.generation,
    restores: s.channel?.restores || undefined,
    signedBy: signers.get(s.commit)?.principal ?? null,
    unsignedReason: signers.get(s.commit)?.principal ? undefined : signers.get(s.commit)?.reason,
  }));
  return o.limit === undefined ? out : out.slice(0, o.limit);
}

export interface RollbackOptions extends WriteOpts {
  /** Compare-and-swap: the release the channel must point at now. */
  expect?: string;
  /** Jump to the newest earlier point at which the channel pointed at this release (id or version). */
  to?: string;
  /** Go only to points allowed signers wrote, verified from this commit (README "Signed history"). */
  trustRoot?: string;
  now?: string;
}

/**
 * `boot-meta channel rollback`: one step back through the channel's history, restoring that
 * point's release and rollout; each further rollback steps one further back (a promotion
 * after a rollback starts a new line from where it stands, like an undo). With `to`, a jump to
 * the newest earlier point at which the channel pointed at that release; a release the
 * channel never had is refused (CHANNEL_NO_SUCH_POINT) rather than promoted: a rollback only
 * goes where the channel has been. Recorded as a new state of the channel, by
 * compare-and-swap: when the channel changed after its history was read, CHANNEL_CONFLICT.
 */
export async function rollbackChannel(repoDir: string, project: string, channel: string, o: RollbackOptions = {}): Promise<CommitResult<{ from: string; channel: Channel; restored: { commit: string; generation: number } }>> {
  validateName("project", project);
  validateName("env", channel);
  const toId = o.to === undefined ? undefined : await withReader(repoDir, undefined, async (r) => (await getRelease(r, project, o.to as string)).id);
  // With a trust root, a point a commit wrote without the right is no point to go back to:
  // restoring it would restore its release *and* its rollout, both the forger's choice.
  const view = o.trustRoot ? await trustedView(repoDir, { root: o.trustRoot }) : undefined;
  const forged = (s: ChannelState) => (view ? rejectedChange(view, s.commit, recordPath.channel(project, channel)) : undefined);
  const skipped: ChannelState[] = [];
  const pick = (states: ChannelState[]): ChannelState | undefined => {
    const [cur, ...earlier] = states;
    skipped.length = 0;
    const ok = (s: ChannelState) => {
      if (!forged(s)) return true;
      skipped.push(s);
      return false;
    };
    if (toId === undefined) return cur?.backTo ? earlier.find((s) => s.channel && s.generation === cur.backTo && ok(s)) : undefined;
    return earlier.find((s) => s.channel?.releaseId === toId && ok(s));
  };
  // The recent history is almost always enough; the whole of it only when it is not.
  let states = await channelStates(repoDir, project, channel, 50);
  if (states.length === 50 && !pick(states)) states = await channelStates(repoDir, project, channel);
  const cur = states[0];
  if (!cur?.channel) throw recordNotFound(`channel ${project}/${channel}`, `promote a release to it: \`boot-meta channel promote ${project} ${channel} RELEASE\``);
  const target = pick(states);
  if (!target?.channel && skipped.length) {
    const why = skipped.map((x) => forged(x)?.message).join("; ");
    throw new BootMetaError("CHANNEL_NO_SUCH_POINT", `${project}/${channel}: the point to roll back to was written without the right (${why}); with a trust root, a rollback goes only to points allowed signers wrote`, ExitCode.General, {
      data: { channel, release: toId ?? null, untrusted: skipped.map((x) => x.commit) },
      suggestions: [`see \`boot-meta channel history ${project} ${channel}\` (the signer of each point); jump to a trusted one with --to, or promote a release with \`boot-meta channel promote\``],
    });
  }
  if (!target?.channel) {
    if (toId !== undefined) {
      throw new BootMetaError("CHANNEL_NO_SUCH_POINT", `${project}/${channel} has not pointed at ${toId} before: --to jumps only to a point in the channel's history`, ExitCode.General, {
        data: { channel, release: toId },
        suggestions: [`see where it has been: \`boot-meta channel history ${project} ${channel}\``, `to give it that release anyway: \`boot-meta channel promote ${project} ${channel} ${o.to} --expect ${cur.channel.releaseId}\``],
      });
    }
    throw new BootMetaError("CHANNEL_NO_PREVIOUS", `${project}/${channel} has no earlier point in its history to step back to (it is at ${cur.channel.releaseId}, as at the first point of its history)`, ExitCode.General, {
      data: { channel, current: cur.channel.releaseId },
      suggestions: [`see \`boot-meta channel history ${project} ${channel}\`; to go elsewhere, \`boot-meta channel promote ${project} ${channel} RELEASE\``],
    });
  }
  const from = cur.channel;
  const to = target.channel;
  return commitRecords(repoDir, o, (v: { channel: Channel }) => `channel: ${project}/${channel} → ${v.channel.releaseId}${v.channel.rollout ? ` (${v.channel.rollout.percent}%)` : ""}, rolled back\n\nfrom ${from.releaseId}; restores the state of ${target.commit} (generation ${positionOf(to, target.generation)})\n`, async (tx) => {
    await requireProject(tx, project);
    const path = recordPath.channel(project, channel);
    const bytes = await tx.read(path);
    const current = bytes ? decodeAt<Channel>("Channel", bytes, path, { project, name: channel }) : undefined;
    const now = current?.value.releaseId ?? "";
    if (o.expect !== undefined && o.expect !== now) throw conflict(project, channel, o.expect, now);
    // The step was planned from the history read above: if the channel moved since, so would the step.
    if (!bytes || !cur.bytes || Buffer.compare(Buffer.from(bytes), Buffer.from(cur.bytes)) !== 0) {
      throw new BootMetaError("CHANNEL_CONFLICT", `${project}/${channel} changed while its history was read (it now points at ${now || "nothing"}${current?.value.rollout ? ` for ${current.value.rollout.percent}%` : ""}): nothing was rolled back`, ExitCode.Conflict, {
        data: { channel, current: now || null },
        suggestions: [`look at \`boot-meta channel history ${project} ${channel}\`, then run the rollback again`],
      });
    }
    await getRelease(tx, project, to.releaseId);
    const next: Channel = {
      project,
      name: channel,
      releaseId: to.releaseId,
      rollout: to.rollout,
      updatedBy: tx.author,
      updatedAt: o.now ?? nowIso(),
      generation: cur.generation + 1,
      backTo: target.backTo || undefined,
      restores: positionOf(to, target.generation),
    };
    writeRecord(tx, "Channel", path, next, current?.unknown);
    return { from: from.releaseId, channel: next, restored: { commit: target.commit, generation: positionOf(to, target.generation) } };
  });
}
