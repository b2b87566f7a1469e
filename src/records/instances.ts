import { validateName } from "../meta/layout.js";
import { getRelease } from "./releases.js";
import { commitRecords, decodeAt, namesIn, nowIso, readRecord, recordPath, requireProject, withReader, type WriteOpts, writeRecord } from "./store.js";
import { releaseFor } from "./channels.js";
import type { Channel, Instance } from "./types.js";

/**
 * `boot-meta instance report`: what an instance runs. Only a change of channel, release or
 * status writes (and commits); a heartbeat that says the same thing is a no-op.
 */
export async function reportInstance(repoDir: string, project: string, id: string, o: WriteOpts & { channel?: string; release: string; status?: string; labels?: Record<string, string>; now?: string }) {
  validateName("principal", id);
  return commitRecords(repoDir, o, `instance: ${project}/${id} runs ${o.release}${o.status ? ` (${o.status})` : ""}`, async (tx) => {
    await requireProject(tx, project);
    const release = await getRelease(tx, project, o.release);
    const path = recordPath.instance(project, id);
    const current = await readRecord<Instance>(tx, "Instance", path, { id, project });
    const same =
      current &&
      current.value.releaseId === release.id &&
      (current.value.channel ?? "") === (o.channel ?? "") &&
      (current.value.status ?? "") === (o.status ?? "") &&
      JSON.stringify(current.value.labels ?? {}) === JSON.stringify(o.labels ?? {});
    if (same) return { instance: current.value, changed: false };
    const next: Instance = { id, project, channel: o.channel, releaseId: release.id, status: o.status, changedAt: o.now ?? nowIso(), labels: o.labels };
    writeRecord(tx, "Instance", path, next, current?.unknown);
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
    const names = (await namesIn(r, `${project}/instances`)).filter((n) => n.endsWith(".json"));
    const files = await r.readMany(names.map((n) => `${project}/instances/${n}`));
    // Keyed by what records say (any string): no inherited property may answer for a key.
    const byRelease: Record<string, Instance[]> = Object.create(null) as Record<string, Instance[]>;
    const channels = new Map<string, Channel | undefined>();
    const lagging: Lagging[] = [];
    for (const n of names) {
      const path = `${project}/instances/${n}`;
      const i = decodeAt<Instance>("Instance", files.get(path) as Uint8Array, path, { id: n.replace(/\.json$/, ""), project }).value;
      (byRelease[i.releaseId] ??= []).push(i);
      if (!i.channel) continue;
      if (!channels.has(i.channel)) channels.set(i.channel, (await readRecord<Channel>(r, "Channel", recordPath.channel(project, i.channel), { project, name: i.channel }))?.value);
      const c = channels.get(i.channel);
      const wants = c ? releaseFor(i.id, c) : undefined;
      if (wants && wants !== i.releaseId) lagging.push({ id: i.id, channel: i.channel, runs: i.releaseId, wants });
    }
    return { commit: r.commit, byRelease, lagging };
  });
}
