import { existsSync } from "node:fs";
import { BootMetaError, ERROR_CODES, type ErrorCode, isBootMetaError } from "../errors.js";
import { RELEASE_ID } from "../records/files.js";
import { digestFile } from "../records/binaries.js";
import { checkDownloaded, discard, download, type Downloaded, installFile, restorePrevious, shownUrl } from "./install.js";
import { shell, Supervisor, waitHealthy } from "./process.js";
import type { Report, Source, Wanted } from "./source.js";
import { type AgentState, failedBefore, previousPath, readAgentState, refusedBefore, writeAgentState } from "./state.js";

/** What one step did, as `agent --json` prints it (one object a step). */
export interface StepResult {
  action: "up-to-date" | "installed" | "rolled-back" | "refused" | "unreachable";
  /** The release id PATH holds after the step (null before the first install). */
  release: string | null;
  /** The release the channel gives this instance (null when the source could not say). */
  wanted: string | null;
  /** The release PATH.previous holds. */
  previous: string | null;
  /** The digest of what PATH holds. */
  sha256: string | null;
  health: "healthy" | "unhealthy" | "unknown";
  /** The meta repo commit the decision was read at. */
  commit: string | null;
  /** Why it refused, rolled back or could not reach its source. */
  reason?: string;
  code?: string;
  warnings: string[];
}

export interface AgentOptions {
  source: Source;
  install: string;
  restart?: string;
  supervisor?: Supervisor;
  health?: string;
  healthTimeoutMs: number;
  env: NodeJS.ProcessEnv;
  /** A line for a person (stderr). */
  say: (line: string) => void;
}

/** "1.4.0" from "20261125T101500Z-1.4.0" (an id that is not a release id is shown as it is). */
export const versionOf = (release: string): string => RELEASE_ID.exec(release)?.[4] ?? release;
const short = (sha: string) => `${sha.slice(0, 12)}…`;

/**
 * One reconcile: what the instance should run → if PATH holds it (by the state file),
 * nothing → else download beside PATH, verify size, digest and signature, install
 * atomically, restart, check health, and roll back to PATH.previous when it is not healthy.
 * Reports the outcome to the source. Never throws for what it meets in the source or the
 * download: the result says what happened (the caller decides the exit code).
 */
export async function reconcile(o: AgentOptions): Promise<StepResult> {
  const state = await readAgentState(o.install);
  const here = (x: Partial<StepResult>): StepResult => ({
    action: "up-to-date",
    release: state.release ?? null,
    wanted: null,
    previous: state.previous?.release ?? null,
    sha256: state.sha256 ?? null,
    health: "unknown",
    commit: null,
    warnings: [],
    ...x,
  });
  let w: Wanted;
  try {
    w = await o.source.wanted();
  } catch (e) {
    if (!isBootMetaError(e)) throw e;
    const away = e.code === "AGENT_UNREACHABLE" || e.code === "META_REMOTE_UNAVAILABLE" || e.code === "CONFIG_SERVER_UNAVAILABLE";
    return here({ action: away ? "unreachable" : "refused", reason: e.message, code: e.code });
  }
  for (const x of w.warnings) o.say(`warning: ${x}`);
  const base = { wanted: w.release, commit: w.commit ?? null, warnings: w.warnings };
  // A failure is remembered only while the channel still gives that release: once it moves, its record goes.
  const failed = state.failed.filter((f) => f.release === w.release);
  const sha256 = w.binary.sha256;
  // So is a refused binary: only the one the channel still gives is remembered.
  const refused = state.refused?.filter((r) => r.release === w.release && r.sha256 === sha256) ?? [];

  // What PATH holds, by its digest: the state file is written after the rename, so a kill
  // between the two leaves the new binary at PATH with the old state (adopted below).
  const actual = existsSync(o.install) ? (await digestFile(o.install)).sha256 : undefined;
  if (actual === sha256 && state.sha256 !== sha256 && !failedBefore({ ...state, failed }, w.release, sha256)) {
    const prev = state.release && state.sha256 && existsSync(previousPath(o.install)) && (await digestFile(previousPath(o.install))).sha256 === state.sha256 ? { release: state.release, sha256: state.sha256 } : undefined;
    o.say(`${o.install} already holds ${versionOf(w.release)} (an install was cut short): checking it`);
    return settle(o, { release: w.release, sha256, previous: prev, failed }, base, w.release);
  }
  if (state.release === w.release && state.sha256 === sha256 && actual === sha256) {
    if (failed.length !== state.failed.length || refused.length !== (state.refused?.length ?? 0)) await writeAgentState(o.install, { ...state, failed, refused });
    const health = o.health ? ((await waitHealthy(o.health, Math.min(o.healthTimeoutMs, 2000), o.env)).ok ? "healthy" : "unhealthy") : "unknown";
    await tell(o, { release: w.release, status: "running", health });
    return here({ ...base, health });
  }
  const before = failedBefore({ ...state, failed }, w.release, sha256);
  if (before) {
    const reason = `release ${versionOf(w.release)} (binary ${short(sha256)}) failed here before: ${before.reason}; staying on ${state.release ? versionOf(state.release) : "nothing"} until the channel gives another release`;
    await tell(o, { release: state.release ?? w.release, status: "failed", health: "unhealthy", lastError: before.reason });
    return here({ ...base, action: "refused", health: "unhealthy", reason, code: "AGENT_RELEASE_FAILED_BEFORE" });
  }

  // A binary refused for its digest or signature is the same bytes next time (the record is
  // immutable, the sha256 names it): downloading it on every poll only costs bandwidth.
  const refusal = refusedBefore({ ...state, refused }, w.release, sha256);
  if (refusal) {
    const reason = `${refusal.reason} (refused at ${refusal.at}; not downloaded again until the channel gives another binary)`;
    if (state.release) await tell(o, { release: state.release, status: "running", health: "unknown", lastError: refusal.reason });
    return here({ ...base, action: "refused", reason, code: refusal.code });
  }

  // Download and verify: nothing at PATH changes until both pass.
  let d: Downloaded | undefined;
  try {
    d = await download(w.binary, w.urls, o.install, { sealed: w.sealed });
    checkDownloaded(d, w.binary, w.signers);
  } catch (e) {
    if (d) await discard(d);
    if (!isBootMetaError(e)) throw e;
    o.say(`refused ${versionOf(w.release)} (sha256 ${short(sha256)}): ${e.message}`);
    if (state.release) await tell(o, { release: state.release, status: "running", health: "unknown", lastError: e.message });
    if (e.code === "AGENT_DOWNLOAD_FAILED") return here({ ...base, action: "unreachable", reason: e.message, code: e.code });
    // A binary that is not what its record says is remembered (only that: PATH and the rest of the state stay as they were).
    if (e.code === "BINARY_DIGEST_MISMATCH" || e.code === "BINARY_SIGNATURE_INVALID") await writeAgentState(o.install, { ...state, failed, refused: [{ release: w.release, sha256, code: e.code, reason: e.message, at: new Date().toISOString() }] });
    return here({ ...base, action: "refused", reason: e.message, code: e.code });
  }
  o.say(`downloaded ${versionOf(w.release)} from ${shownUrl(d.from, w.sealed)} (sha256 ${short(sha256)}, signature checked)`);
  await installFile(d, o.install, o.env);
  // PATH.previous is what PATH held: a release only when that was the one the state names.
  const installed: AgentState = { release: w.release, sha256, previous: state.release && state.sha256 && actual === state.sha256 ? { release: state.release, sha256: state.sha256 } : undefined, failed };
  return settle(o, installed, base, w.release);
}

/** After PATH holds the new release: record it, restart, check health, and roll back when it is not healthy. */
async function settle(o: AgentOptions, installed: AgentState, base: Pick<StepResult, "wanted" | "commit" | "warnings">, release: string): Promise<StepResult> {
  const sha256 = installed.sha256 as string;
  const failed = installed.failed;
  await writeAgentState(o.install, installed);

  const started = Date.now();
  const problem = await restartAndCheck(o, release);
  if (problem === undefined || problem.health === "unknown") {
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const health = problem === undefined && o.health ? "healthy" : "unknown";
    o.say(`installed ${versionOf(release)} (sha256 ${short(sha256)})${health === "healthy" ? `, healthy in ${secs} s` : ""}`);
    await tell(o, { release: release, status: "running", health });
    return { ...base, action: "installed", release: release, previous: installed.previous?.release ?? null, sha256, health };
  }

  // Not healthy: the previous binary goes back, restarted; this release is not tried again while the channel gives it.
  const why = problem.why;
  const at = new Date().toISOString();
  const nextFailed = [...failed, { release: release, sha256, reason: why, at }];
  if (installed.previous && (await restorePrevious(o.install))) {
    await writeAgentState(o.install, { release: installed.previous.release, sha256: installed.previous.sha256, failed: nextFailed });
    const again = await restartAndCheck(o, installed.previous.release);
    o.say(`rolled back ${versionOf(release)} → ${versionOf(installed.previous.release)}: ${why}${again?.health === "unhealthy" ? ` (and the previous release is not healthy either: ${again.why})` : ""}`);
    await tell(o, { release: installed.previous.release, status: "failed", health: "unhealthy", lastError: why });
    return { ...base, action: "rolled-back", release: installed.previous.release, previous: null, sha256: installed.previous.sha256, health: "unhealthy", reason: why, code: "AGENT_HEALTH_FAILED" };
  }
  // A first install has nothing to go back to: it stays, marked failed.
  await writeAgentState(o.install, { ...installed, failed: nextFailed });
  o.say(`${versionOf(release)} is not healthy and there is no previous binary to go back to: ${why}`);
  await tell(o, { release: release, status: "failed", health: "unhealthy", lastError: why });
  return { ...base, action: "rolled-back", release: release, previous: null, sha256, health: "unhealthy", reason: `${why}; there was no previous binary to go back to`, code: "AGENT_HEALTH_FAILED" };
}

/** Restarts (command or supervised child) and checks health; undefined when healthy, `unknown` health when there is no check. */
async function restartAndCheck(o: AgentOptions, release: string): Promise<{ health: "unhealthy" | "unknown"; why: string } | undefined> {
  const env = { ...o.env, BOOT_META_RELEASE: release };
  if (o.supervisor) await o.supervisor.restart();
  else if (o.restart) {
    const code = await shell(o.restart, env);
    if (code !== 0) return { health: "unhealthy", why: `the restart command \`${o.restart}\` exited ${code}` };
  }
  if (!o.health) return { health: "unknown", why: "" };
  const h = await waitHealthy(o.health, o.healthTimeoutMs, env);
  return h.ok ? undefined : { health: "unhealthy", why: h.why };
}

/** Reports, but a source that cannot take the report never stops the agent: it says so and goes on. */
async function tell(o: AgentOptions, r: Report): Promise<void> {
  try {
    await o.source.report(r);
  } catch (e) {
    o.say(`warning: could not report to ${o.source.shown}: ${isBootMetaError(e) ? e.message : (e as Error).message}`);
  }
}

/** A step that went wrong, as --once's error (its data is the step, so --json still prints one object). */
export function stepError(s: StepResult): BootMetaError {
  const code = s.code !== undefined && Object.hasOwn(ERROR_CODES, s.code) ? (s.code as ErrorCode) : "AGENT_UNREACHABLE";
  return new BootMetaError(code, s.reason ?? s.action, undefined, { data: { ...s } });
}

/** A human line for a step that did nothing new. */
export function describeStep(s: StepResult): string | undefined {
  if (s.action === "up-to-date") return `up to date: ${s.release ? versionOf(s.release) : "nothing"} (sha256 ${s.sha256 ? short(s.sha256) : "-"}${s.health !== "unknown" ? `, ${s.health}` : ""})`;
  if (s.action === "unreachable" || s.action === "refused") return `${s.action}: ${s.reason ?? ""}`;
  return undefined;
}
