import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../io.js";

/** A release that failed on this instance (health or restart), and why: never installed again while the channel gives it. */
export interface FailedRelease {
  release: string;
  sha256: string;
  reason: string;
  at: string;
}

/**
 * A binary the agent downloaded and would not install (its digest or signature did not
 * check): not downloaded again while the channel gives this release and binary, yet still
 * reported each time, as a refusal.
 */
export interface RefusedBinary {
  release: string;
  sha256: string;
  /** The error code of the refusal (BINARY_DIGEST_MISMATCH, BINARY_SIGNATURE_INVALID, …). */
  code: string;
  reason: string;
  at: string;
}

/**
 * What the agent knows it installed at PATH, kept beside it as `PATH.boot-meta.json`: the
 * only memory the agent has across restarts (a cron `--once` run starts from it).
 */
export interface AgentState {
  /** The release id installed at PATH (and the digest of its binary). */
  release?: string;
  sha256?: string;
  /** What PATH.previous holds. */
  previous?: { release: string; sha256: string };
  failed: FailedRelease[];
  /** Binaries refused for what they are (digest, signature); absent in state files written before this existed. */
  refused?: RefusedBinary[];
  updatedAt?: string;
}

export const statePath = (install: string): string => `${install}.boot-meta.json`;
export const previousPath = (install: string): string => `${install}.previous`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * The state file, or an empty state when there is none. A file that does not parse (edited by
 * hand) is read as empty: the worst that follows is one reinstall of what the channel gives,
 * which is verified like any other.
 */
export async function readAgentState(install: string): Promise<AgentState> {
  const text = await readFile(statePath(install), "utf8").catch(() => undefined);
  let v: unknown;
  try {
    v = text === undefined ? undefined : JSON.parse(text);
  } catch {
    v = undefined;
  }
  if (!isObject(v)) return { failed: [], refused: [] };
  const prev = isObject(v.previous) && str(v.previous.release) && str(v.previous.sha256) ? { release: v.previous.release as string, sha256: v.previous.sha256 as string } : undefined;
  const failed = Array.isArray(v.failed)
    ? v.failed.filter(isObject).flatMap((f) => (str(f.release) && str(f.sha256) ? [{ release: f.release as string, sha256: f.sha256 as string, reason: String(f.reason ?? ""), at: String(f.at ?? "") }] : []))
    : [];
  const refused = Array.isArray(v.refused)
    ? v.refused.filter(isObject).flatMap((f) => (str(f.release) && str(f.sha256) && str(f.code) ? [{ release: f.release as string, sha256: f.sha256 as string, code: f.code as string, reason: String(f.reason ?? ""), at: String(f.at ?? "") }] : []))
    : [];
  return { release: str(v.release), sha256: str(v.sha256), previous: prev, failed, refused, updatedAt: str(v.updatedAt) };
}

/** Written whole and renamed into place (io.ts writeFileAtomic): a kill never leaves half a state file. */
export async function writeAgentState(install: string, s: AgentState): Promise<void> {
  await writeFileAtomic(statePath(install), `${JSON.stringify({ ...s, updatedAt: new Date().toISOString() }, null, 2)}\n`, { mode: 0o644 });
}

/** The failure recorded for exactly this release and binary, if any. */
export function failedBefore(s: AgentState, release: string, sha256: string): FailedRelease | undefined {
  return s.failed.find((f) => f.release === release && f.sha256 === sha256);
}

/** The refusal recorded for exactly this release and binary, if any: a new binary or release is looked at afresh. */
export function refusedBefore(s: AgentState, release: string, sha256: string): RefusedBinary | undefined {
  return s.refused?.find((r) => r.release === release && r.sha256 === sha256);
}
