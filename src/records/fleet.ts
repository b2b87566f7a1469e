import { BootMetaError, ExitCode } from "../errors.js";
import { type Rollout, rolloutOf } from "./rollout.js";
import { channelsDir, type CommitReader, decodeAt, instanceShard, instancesDir } from "./files.js";
import type { Channel, Instance } from "./types.js";

/**
 * Every instance record of a project at one commit. Records sit at
 * `instances/<sha256(id)[0:2]>/<id>.json`; a flat `instances/<id>.json` (written before the
 * records were sharded) is still read when no sharded record of that id exists. A record in
 * another shard than its id's was moved by hand and is refused.
 */
export async function readInstances(r: Pick<CommitReader, "list" | "readMany">, project: string): Promise<Instance[]> {
  const root = instancesDir(project);
  const paths = (await r.list(root)).filter((p) => p.endsWith(".json"));
  const sharded = new Map<string, string>();
  const flat = new Map<string, string>();
  for (const path of paths) {
    const rel = path.slice(root.length + 1);
    const m = /^(?:([^/]+)\/)?([^/]+)\.json$/.exec(rel);
    const id = m?.[2];
    if (!m || !id || (m[1] !== undefined && m[1] !== instanceShard(id))) {
      throw new BootMetaError("RECORD_INVALID", `${path} is not where an instance record belongs: the record of an instance ID is ${root}/<first two hex digits of sha256(ID)>/ID.json`, ExitCode.InvalidFormat, {
        data: { kind: "Instance", where: path },
        suggestions: [`move it back with \`git mv\` (see \`git log -- ${path}\`), or remove it`],
      });
    }
    (m[1] === undefined ? flat : sharded).set(id, path);
  }
  for (const id of sharded.keys()) flat.delete(id);
  const wanted = [...sharded, ...flat].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const files = await r.readMany(wanted.map(([, path]) => path));
  return wanted.map(([id, path]) => decodeAt<Instance>("Instance", files.get(path) as Uint8Array, path, { id, project }).value);
}

/** The ids of the instances whose records name `channel`: the fleet its rollouts are cut from. */
export function fleetOf(instances: readonly Instance[], channel: string): string[] {
  return instances.filter((i) => i.channel === channel).map((i) => i.id);
}

/** Each channel's rollout over the instances that follow it, from one reading of the fleet. */
export function rollouts(channels: readonly Channel[], instances: readonly Instance[]): Map<string, Rollout> {
  return new Map(channels.map((c) => [c.name, rolloutOf(c, fleetOf(instances, c.name))]));
}

/** Every channel of a project at one commit (a name may have several segments: `eu/stable`). */
export async function readChannels(r: CommitReader, project: string): Promise<Channel[]> {
  const root = channelsDir(project);
  const paths = (await r.list(root)).filter((p) => p.endsWith(".json"));
  const files = await r.readMany(paths);
  return paths.map((path) => decodeAt<Channel>("Channel", files.get(path) as Uint8Array, path, { project, name: path.slice(root.length + 1, -".json".length) }).value);
}
