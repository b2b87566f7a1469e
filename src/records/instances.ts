import { BootMetaError, ExitCode } from "../errors.js";
import { commitOnto, type CommitResult, type Tx } from "../meta/commit.js";
import { validateName } from "../meta/layout.js";
import { readChannels, readInstances, rollouts } from "./fleet.js";
import { getRelease } from "./releases.js";
import { channelsDir, commitRecords, instancesDir, nowIso, readRecord, recordPath, requireProject, withReader, type WriteOpts, writeRecord } from "./files.js";
import type { Instance } from "./types.js";

/**
 * `boot-meta instance report`: what an instance runs. Only a change of channel, release,
 * status, health or last error writes (and commits); a heartbeat that says the same thing is a no-op. The channel
 * must exist: an instance on a misspelt channel would follow nothing, and would count in no
 * channel's rollout.
 */
export async function reportInstance(repoDir: string, project: string, id: string, o: WriteOpts & { channel?: string; release: string; status?: string; health?: string; lastError?: string; labels?: Record<string, string>; now?: string; onto?: { remote: string; branch: string; base: string | undefined } }): Promise<CommitResult<{ instance: Instance; changed: boolean }>> {
  validateName("principal", id);
  if (o.channel !== undefined) validateName("env", o.channel);
  const message = `instance: ${project}/${id} runs ${o.release}${o.status ? ` (${o.status})` : ""}`;
  // `onto`: a clone without a work tree (the agent's cached clone) writes straight to the remote's branch.
  const commit = (fn: (tx: Tx) => Promise<{ instance: Instance; changed: boolean }>) => (o.onto ? commitOnto(repoDir, { message, author: o.author, ...o.onto }, fn) : commitRecords(repoDir, o, message, fn));
  return commit(async (tx) => {
    await requireProject(tx, project);
    const release = await getRelease(tx, project, o.release);
    if (o.channel !== undefined && !(await tx.read(recordPath.channel(project, o.channel)))) {
      const known = (await tx.list(channelsDir(project))).filter((p) => p.endsWith(".json")).map((p) => p.slice(channelsDir(project).length + 1, -".json".length));
      throw new BootMetaError("CHANNEL_NOT_FOUND", `cannot record ${id} on channel ${o.channel} of ${project}: there is no such channel (${recordPath.channel(project, o.channel)}); ${known.length ? `its channels are ${known.join(", ")}` : `${project} has no channel yet`}`, ExitCode.General, {
        data: { project, channel: o.channel, channels: known },
        suggestions: known.length ? ["check the name (--channel)", `or create it: \`boot-meta channel promote ${project} ${o.channel} RELEASE\``] : [`create it: \`boot-meta channel promote ${project} ${o.channel} RELEASE\``],
      });
    }
    const path = recordPath.instance(project, id);
    // A record from before instances were sharded is read where it is, and moved on its next change.
    const flat = `${instancesDir(project)}/${id}.json`;
    const current = (await readRecord<Instance>(tx, "Instance", path, { id, project })) ?? (await readRecord<Instance>(tx, "Instance", flat, { id, project }));
    const same =
      current &&
      current.value.releaseId === release.id &&
      (current.value.channel ?? "") === (o.channel ?? "") &&
      (current.value.status ?? "") === (o.status ?? "") &&
      (current.value.health ?? "") === (o.health ?? "") &&
      (current.value.lastError ?? "") === (o.lastError ?? "") &&
      JSON.stringify(current.value.labels ?? {}) === JSON.stringify(o.labels ?? {});
    if (same) return { instance: current.value, changed: false };
    const next: Instance = { id, project, channel: o.channel, releaseId: release.id, status: o.status, health: o.health || undefined, lastError: o.lastError || undefined, changedAt: o.now ?? nowIso(), labels: o.labels };
    writeRecord(tx, "Instance", path, next, current?.unknown);
    if (await tx.read(flat)) tx.remove(flat);
    return { instance: next, changed: true };
  });
}

/** An instance that does not run what its channel gives it (yet): upgrading, stuck or rolled back. */
export interface Lagging {
  id: string;
  channel: string;
  runs: string;
  wants: string;
}

/** `boot-meta instance list`: the fleet grouped by release, and who is not where its channel says. */
export async function listInstances(repoDir: string, project: string): Promise<{ commit: string; byRelease: Record<string, Instance[]>; lagging: Lagging[] }> {
  return withReader(repoDir, undefined, async (r) => {
    await requireProject(r, project);
    const instances = await readInstances(r, project);
    const byChannel = rollouts(await readChannels(r, project), instances);
    // Keyed by what the records say: no inherited name (`__proto__`) may answer.
    const byRelease: Record<string, Instance[]> = Object.create(null);
    const lagging: Lagging[] = [];
    for (const i of instances) {
      (byRelease[i.releaseId] ??= []).push(i);
      const wants = i.channel ? byChannel.get(i.channel)?.releaseFor(i.id) : undefined;
      if (wants && wants !== i.releaseId) lagging.push({ id: i.id, channel: i.channel as string, runs: i.releaseId, wants });
    }
    return { commit: r.commit, byRelease, lagging };
  });
}
