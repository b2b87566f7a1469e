import { createHash } from "node:crypto";
import type { Channel } from "./types.js";

// DESIGN.md "Rollout": the instances of a channel are those whose records name it; ranked by
// a hash of (channel, instance id), the first ceil(percent × N / 100) get the new release (at
// least one when N > 0); an instance not yet recorded is placed by its hash against the
// percent. The hash leaves the release out, so every rollout on a channel goes to the same
// instances first: widening only adds instances, and a canary stays the canary.

/** sha256 of the channel and the instance id; the two names cannot contain a NUL. */
function rolloutHash(channel: string, instanceId: string): Buffer {
  return createHash("sha256").update(`${channel}\0${instanceId}`).digest();
}

/** How many of `n` instances get the new release at `percent`: ceil(percent × n / 100), at least one when n > 0. */
export function rolloutCount(percent: number, n: number): number {
  if (n <= 0) return 0;
  const x = percent * n; // whole numbers: exact in integer arithmetic
  return Math.max(1, Math.min(n, (x - (x % 100)) / 100 + (x % 100 === 0 ? 0 : 1)));
}

/** What a channel gives each instance, decided for its whole fleet at once. */
export interface Rollout {
  /** The release the channel rolls out (all of the fleet when there is no rollout). */
  readonly releaseId: string;
  /** The release the rest stay on, during a rollout. */
  readonly previousReleaseId: string | undefined;
  readonly percent: number;
  /** The recorded instances of the channel (the N of the rule). */
  readonly fleet: number;
  /** Those of them that get `releaseId`. */
  readonly onRelease: ReadonlySet<string>;
  /** The release an instance is to run, recorded or not. */
  releaseFor(instanceId: string): string;
  /**
   * The release for a server that does not say which instance it is: the channel's release
   * once it has all of the fleet, and during a rollout the one the rest stay on — a machine
   * with no identity cannot be counted in the percentage, so it gets what every instance
   * outside the canary runs.
   */
  readonly baseline: string;
  /** How many recorded instances of the channel a release gets. */
  countOf(releaseId: string): number;
}

/**
 * The one place that decides who runs what on a channel: `binary which`'s shares,
 * `channel show --instance` and `instance list`'s lagging all ask it. `fleet` holds the ids
 * of the instances whose records name the channel.
 */
export function rolloutOf(c: Channel, fleet: Iterable<string>): Rollout {
  const ids = [...new Set(fleet)];
  const previous = c.rollout?.previousReleaseId || undefined;
  const percent = previous ? (c.rollout?.percent ?? 100) : 100;
  const hashes = new Map(ids.map((id) => [id, rolloutHash(c.name, id)]));
  const ranked = ids.sort((a, b) => Buffer.compare(hashes.get(a) as Buffer, hashes.get(b) as Buffer) || (a < b ? -1 : a > b ? 1 : 0));
  const onRelease = new Set(previous ? ranked.slice(0, rolloutCount(percent, ranked.length)) : ranked);
  return {
    releaseId: c.releaseId,
    previousReleaseId: previous,
    percent,
    fleet: ranked.length,
    onRelease,
    baseline: previous !== undefined && percent < 100 ? previous : c.releaseId,
    releaseFor(id) {
      if (!previous) return c.releaseId;
      if (hashes.has(id)) return onRelease.has(id) ? c.releaseId : previous;
      // Not recorded yet: where its hash falls, as a fraction of 2^64, against the percent.
      return rolloutHash(c.name, id).readBigUInt64BE(0) * 100n < BigInt(percent) << 64n ? c.releaseId : previous;
    },
    countOf(releaseId) {
      if (releaseId === c.releaseId) return onRelease.size;
      return previous !== undefined && releaseId === previous ? ranked.length - onRelease.size : 0;
    },
  };
}
