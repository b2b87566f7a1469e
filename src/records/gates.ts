import { BootMetaError, ExitCode } from "../errors.js";
import type { CommitResult } from "../meta/commit.js";
import { Git } from "../meta/git.js";
import { META_CONFIG, validateName } from "../meta/layout.js";
import { DEFAULT_META_CONFIG, type MetaConfig, parseMetaConfig, promotionGate } from "../meta/model.js";
import { channelApprovers, mayWrite } from "../meta/policy.js";
import { readTrusted } from "../meta/trusted-reader.js";
import { decodeUtf8 } from "../limits.js";
import { decodeRecord } from "./codec.js";
import { commitRecords, nowIso, type Reader, recordPath, requireProject, type WriteOpts } from "./files.js";
import { getRelease } from "./releases.js";
import type { Channel } from "./types.js";

/**
 * Promotion gates (`promotion:` in `.boot-meta.yaml`, model.ts PromotionGate): before a
 * channel may point at a release, the release may need approvals recorded in the repository
 * (`channel approve`) and a soak on the channel before it (`after` + `soak`). The rules are
 * the admins'; the approvals are each approver's own signed files; the soak is read from the
 * history of the earlier channel. `channel promote` and the captain check them inside the
 * commit, so a promotion that fails one writes nothing.
 */

/** Where a principal's approval of a release for a channel lives (DESIGN.md "New paths"). */
export const approvalsDir = (project: string, channel: string, releaseId: string) => `${project}/approvals/${channel}/${releaseId}`;
export const approvalPath = (project: string, channel: string, releaseId: string, principal: string) => `${approvalsDir(project, channel, releaseId)}/${principal}.json`;

export interface GateState {
  /** The rule in `.boot-meta.yaml` that gates the channel, e.g. `promotion.shop.stable`. */
  rule: string;
  releaseId: string;
  approvals?: { needed: number; by: string[]; met: boolean; approvers: string[]; anyone: boolean };
  soak?: {
    after: string;
    seconds: number;
    /** The longest stretch, in seconds, during which `after` gave the release to all its instances (to `now` when it still does). */
    soaked: number;
    met: boolean;
    /** When that stretch began (the promotion's recorded time); undefined when the release never had all of `after`. */
    since?: string;
  };
  met: boolean;
}

/** The rules as `.boot-meta.yaml` says them at the reader's commit (the defaults when there is none). */
export async function metaConfigAt(r: Reader): Promise<MetaConfig> {
  const raw = await r.read(META_CONFIG);
  return raw ? parseMetaConfig(decodeUtf8(raw, META_CONFIG)) : DEFAULT_META_CONFIG;
}

/** The approvals of a release for a channel that count: files of principals who may approve, each saying what its path says. */
async function approvalsOf(r: Reader, c: MetaConfig, project: string, channel: string, releaseId: string): Promise<string[]> {
  const approvers = channelApprovers(c, project, channel);
  const dir = approvalsDir(project, channel, releaseId);
  const out: string[] = [];
  for (const e of await r.children(dir)) {
    if (e.dir || !e.name.endsWith(".json")) continue;
    const name = e.name.slice(0, -".json".length);
    if (!mayWrite(approvers, name)) continue;
    try {
      const body = JSON.parse(decodeUtf8((await r.read(`${dir}/${e.name}`)) ?? new Uint8Array(), `${dir}/${e.name}`)) as Record<string, unknown>;
      if (body.approvedBy === name && body.releaseId === releaseId && body.channel === channel) out.push(name);
    } catch {
      // A file that does not say what its path says approves nothing.
    }
  }
  return out.sort();
}

/**
 * How long `releaseId` has had all of `channel` (no rollout), as its longest unbroken stretch
 * in the channel's history at `commit`: each state counts from its recorded `updatedAt` to the
 * next state's (or to `now` for the current one).
 */
async function soakOf(repoDir: string, commit: string | undefined, project: string, channel: string, releaseId: string, now: number): Promise<{ seconds: number; since?: string }> {
  if (!commit) return { seconds: 0 };
  const git = await Git.at(repoDir);
  const path = recordPath.channel(project, channel);
  const log = (await git.run(["--literal-pathspecs", "log", "--format=%H", commit, "--", path])).stdout.split("\n").filter((l) => /^[0-9a-f]+$/.test(l));
  const blobs = await git.readBlobs(log.map((h) => `${h}:${path}`));
  // Oldest first.
  const states = blobs.map((b) => (b ? decodeRecord<Channel>("Channel", b, path).value : undefined)).reverse();
  let best = { seconds: 0, since: undefined as string | undefined };
  let start: string | undefined;
  const close = (end: number) => {
    if (start === undefined) return;
    const s = Math.max(0, Math.floor((end - Date.parse(start)) / 1000));
    if (s >= best.seconds) best = { seconds: s, since: start };
    start = undefined;
  };
  for (const s of states) {
    const full = s !== undefined && s.releaseId === releaseId && !s.rollout?.previousReleaseId;
    if (full && start === undefined) start = s.updatedAt;
    else if (!full) close(s ? Date.parse(s.updatedAt) : now);
  }
  close(now);
  return best;
}

/**
 * The gates on promoting `releaseId` to `channel`, and which of them it meets; undefined when
 * the channel has none. With `trustRoot`, judged on the trusted view of `r`'s commit.
 */
export async function gateState(repoDir: string, r0: Reader & { base?: string; commit?: string }, project: string, channel: string, releaseId: string, now: number, trustRoot?: string): Promise<GateState | undefined> {
  const at = r0.base ?? r0.commit;
  let r: Reader = r0;
  if (trustRoot && at) {
    // With a trust root, the rules and the approvals are what allowed signers wrote: gates a
    // non-admin removed still hold, and an approval its approver did not sign is not there.
    r = (await readTrusted(r0, repoDir, trustRoot, at)).reader;
  }
  // Most repositories gate nothing: their rules are not parsed on every promotion.
  const raw = await r.read(META_CONFIG);
  if (!raw || !Buffer.from(raw).includes("promotion")) return undefined;
  const c = parseMetaConfig(decodeUtf8(raw, META_CONFIG));
  const g = promotionGate(c, project, channel);
  if (!g) return undefined;
  const out: GateState = { rule: g.rule, releaseId, met: true };
  if (g.gate.approvals) {
    const by = await approvalsOf(r, c, project, channel, releaseId);
    const approvers = channelApprovers(c, project, channel);
    out.approvals = { needed: g.gate.approvals, by, met: by.length >= g.gate.approvals, approvers: approvers.principals, anyone: approvers.anyone };
    out.met &&= out.approvals.met;
  }
  if (g.gate.after !== undefined && g.gate.soakSeconds !== undefined) {
    const soaked = await soakOf(repoDir, at, project, g.gate.after, releaseId, now);
    out.soak = { after: g.gate.after, seconds: g.gate.soakSeconds, soaked: soaked.seconds, met: soaked.since !== undefined && soaked.seconds >= g.gate.soakSeconds, ...(soaked.since ? { since: soaked.since } : {}) };
    out.met &&= out.soak.met;
  }
  return out;
}

const human = (s: number) => (s % 3600 === 0 && s > 0 ? `${s / 3600}h` : s % 60 === 0 && s > 0 ? `${s / 60}m` : `${s}s`);

/** Throws the first gate `s` does not meet: CHANNEL_GATE_APPROVALS or CHANNEL_GATE_SOAK, naming what is missing and how to get it. */
export function requireGates(project: string, channel: string, s: GateState | undefined): void {
  if (!s || s.met) return;
  const a = s.approvals;
  if (a && !a.met) {
    const who = a.anyone ? "any principal with a key" : a.approvers.join(", ") || "no one (fix the rule)";
    throw new BootMetaError("CHANNEL_GATE_APPROVALS", `cannot promote ${s.releaseId} to ${project}/${channel}: ${s.rule} needs ${a.needed} approval${a.needed === 1 ? "" : "s"} of it for ${channel} and it has ${a.by.length}${a.by.length ? ` (${a.by.join(", ")})` : ""}; who may approve: ${who}. Nothing was written`, ExitCode.General, {
      data: { project, channel, release: s.releaseId, rule: s.rule, gate: "approvals", needed: a.needed, approvedBy: a.by },
      suggestions: [`an approver runs \`boot-meta channel approve ${project} ${channel} ${s.releaseId} --as NAME --push\` (signed with their key), then promote again`],
    });
  }
  const k = s.soak;
  if (k && !k.met) {
    const had = k.since ? `it has had all of ${k.after} for ${human(k.soaked)} at most (since ${k.since})` : `it has never had all of ${k.after}`;
    throw new BootMetaError("CHANNEL_GATE_SOAK", `cannot promote ${s.releaseId} to ${project}/${channel}: ${s.rule} needs it to have run on all of ${k.after} for ${human(k.seconds)} first; ${had}. Nothing was written`, ExitCode.General, {
      data: { project, channel, release: s.releaseId, rule: s.rule, gate: "soak", after: k.after, soakSeconds: k.seconds, soakedSeconds: k.soaked },
      suggestions: k.since
        ? [`wait ${human(Math.max(1, k.seconds - k.soaked))} more with ${s.releaseId} on all of ${k.after}, then promote again`]
        : [`promote it to ${k.after} first: \`boot-meta channel promote ${project} ${k.after} ${s.releaseId}\` (or \`boot-meta captain -p ${project} --channel ${k.after} --to ${s.releaseId}\`), and let it soak ${human(k.seconds)}`],
    });
  }
}

/**
 * `boot-meta channel approve`: `as`'s approval of a release for a channel, committed as
 * `<project>/approvals/<channel>/<release-id>/<as>.json`. Like an admin's approval
 * (meta/approvals.ts), the file is only its approver's to write, so the commit must be signed by
 * their key: `boot-meta verify` and readers with a trust root check that. Refuses
 * (CHANNEL_APPROVER_NOT_ALLOWED) a principal the rules do not let approve the channel.
 * Approving again writes nothing.
 */
export async function approveChannel(repoDir: string, project: string, channel: string, release: string, o: WriteOpts & { as: string; now?: string }): Promise<CommitResult<{ path: string; releaseId: string; approvedBy: string; changed: boolean }>> {
  validateName("project", project);
  validateName("env", channel);
  const name = validateName("principal", o.as);
  return commitRecords(repoDir, o, (v: { releaseId: string }) => `channel approve: ${name} approves ${v.releaseId} for ${project}/${channel}`, async (tx) => {
    await requireProject(tx, project);
    const rel = await getRelease(tx, project, release);
    const c = await metaConfigAt(tx);
    const approvers = channelApprovers(c, project, channel);
    if (!mayWrite(approvers, name)) {
      throw new BootMetaError("CHANNEL_APPROVER_NOT_ALLOWED", `${name} may not approve releases for ${project}/${channel}: ${approvers.rule} allows ${approvers.anyone ? "anyone" : approvers.principals.join(", ") || "no one"}; nothing was written`, ExitCode.General, {
        data: { project, channel, principal: name, rule: approvers.rule, approvers: approvers.principals },
        suggestions: ["approve as one of them (--as NAME, signed with their key)", `or an admin changes the rule (${approvers.rule}) in .boot-meta.yaml`],
      });
    }
    const path = approvalPath(project, channel, rel.id, name);
    if (await tx.read(path)) return { path, releaseId: rel.id, approvedBy: name, changed: false };
    tx.write(path, `${JSON.stringify({ project, channel, releaseId: rel.id, approvedBy: name, approvedAt: o.now ?? nowIso() }, null, 2)}\n`);
    return { path, releaseId: rel.id, approvedBy: name, changed: true };
  });
}
