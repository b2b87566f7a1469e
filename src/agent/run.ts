import { existsSync } from "node:fs";
import { arch as machineArch, platform } from "node:os";
import { dirname, resolve } from "node:path";
import { resolveSettings } from "../config/bootstrap.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { validateName } from "../meta/layout.js";
import type { IdentitySet } from "../sops/identities.js";
import { reconcile, type StepResult, stepError } from "./agent.js";
import { follow, followStream, Waker } from "./follow.js";
import { Supervisor } from "./process.js";
import { RepoSource, ServerSource, type Source, type Target } from "./source.js";
import { readAgentState } from "./state.js";

export interface AgentRunOptions {
  meta?: string;
  server?: string;
  token?: string;
  nats?: string;
  project?: string;
  channel?: string;
  instance?: string;
  install: string;
  restart?: string;
  /** The supervised binary's arguments (an empty list supervises it without any); undefined: no supervision. */
  supervise?: string[];
  health?: string;
  /** Seconds. */
  healthTimeout: number;
  /** Seconds between polls. */
  interval: number;
  trustRoot?: string;
  os?: string;
  arch?: string;
  once?: boolean;
  identities: () => Promise<IdentitySet>;
  say: (line: string) => void;
  onStep?: (s: StepResult) => void;
  env?: NodeJS.ProcessEnv;
  /** Stops the loop (the command wires SIGTERM/SIGINT to it). */
  signal?: AbortSignal;
}

/** The loop's last line: it stopped (SIGTERM/SIGINT), running what it names. */
export type AgentRunResult = StepResult | (Omit<StepResult, "action"> & { action: "stopped" });

/** This machine as `binary add` names platforms: linux/darwin/windows, amd64/arm64. */
export function thisPlatform(): { os: string; arch: string } {
  const os = platform() === "win32" ? "windows" : platform();
  const a = machineArch();
  return { os, arch: a === "x64" ? "amd64" : a === "ia32" ? "386" : a };
}

function missing(what: string, flag: string): BootMetaError {
  return new BootMetaError("CONFIG_NOT_CONFIGURED", `no ${what} was given`, ExitCode.InvalidArgument, { suggestions: [`pass ${flag}, or put it in the bootstrap file (\`boot-meta bootstrap\`)`] });
}

/**
 * `boot-meta agent`: resolves where it follows from and who it is, then one step (`once`) or
 * the loop until `signal` (or SIGTERM/SIGINT) stops it — with the supervised binary, which
 * is stopped too.
 */
export async function runAgent(o: AgentRunOptions): Promise<AgentRunResult> {
  const env = o.env ?? process.env;
  const s = await resolveSettings({ repo: o.meta, project: o.project, trustRoot: o.trustRoot });
  const project = validateName("project", s.project ?? missingThrow("project", "--project"));
  const channel = validateName("env", o.channel ?? s.channel ?? missingThrow("channel", "--channel"));
  const instance = validateName("principal", o.instance ?? s.instance ?? missingThrow("instance id", "--instance"));
  const here = thisPlatform();
  const t: Target = { project, channel, instance, os: o.os ?? here.os, arch: o.arch ?? here.arch };
  for (const [k, v] of [["os", t.os], ["arch", t.arch]] as const) if (!/^[a-z0-9_]+$/.test(v)) throw new BootMetaError("INVALID_ARGUMENT", `--${k} ${JSON.stringify(v)} is not a platform name: lower-case letters, digits and _, as \`binary add --${k}\` records it`, ExitCode.InvalidArgument);
  const install = resolve(o.install);
  if (!existsSync(dirname(install))) throw new BootMetaError("FILE_NOT_FOUND", `--install ${install}: its folder ${dirname(install)} does not exist`, ExitCode.FileNotFound, { suggestions: [`create it first (mkdir -p ${dirname(install)})`] });
  const identities = await o.identities();
  let source: Source;
  if (o.server !== undefined) {
    let base: URL;
    try {
      base = new URL(o.server);
      if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error("not http");
    } catch {
      throw new BootMetaError("INVALID_ARGUMENT", `--server ${JSON.stringify(o.server)} is not an http(s) URL`, ExitCode.InvalidArgument);
    }
    source = new ServerSource(base, t, { token: o.token, identities });
  } else {
    const repo = s.repo ?? process.cwd();
    source = new RepoSource(repo, t, { trustRoot: s.trustRoot, identities, env });
  }

  const supervisor = o.supervise ? new Supervisor(install, o.supervise, env, o.say) : undefined;
  const base = { source, install, restart: o.restart, supervisor, health: o.health, healthTimeoutMs: o.healthTimeout * 1000, env, say: o.say };
  if (o.once) {
    const step = await reconcile(base);
    if (step.action === "up-to-date" || step.action === "installed") return step;
    throw stepError(step);
  }

  const nats = o.nats ? await import("./nats.js").then((m) => ({ follow: m.followNats, target: m.parseNats(o.nats as string) })) : undefined;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  o.signal?.addEventListener("abort", onSignal, { once: true });
  const waker = new Waker();
  const streams: Promise<void>[] = [];
  if (source instanceof ServerSource && o.server) {
    streams.push(followStream(new URL(o.server), [`${project}/channels/${channel}.json`, `${project}/binaries/`], { token: o.token, waker, signal: stop.signal, say: o.say }));
  }
  if (nats) streams.push(nats.follow(nats.target, project, channel, { waker, signal: stop.signal, say: o.say }));
  let last: StepResult | undefined;
  try {
    // What PATH holds runs while the first step decides (a restart of the agent is no outage).
    if (supervisor && existsSync(install)) supervisor.start();
    await follow({ ...base, intervalMs: o.interval * 1000, signal: stop.signal, waker, onStep: (x) => {
      last = x;
      o.onStep?.(x);
    } });
  } finally {
    stop.abort();
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    await supervisor?.stop();
    await Promise.allSettled(streams);
  }
  const state = await readAgentState(install);
  o.say(`stopped, running ${state.release ?? "nothing"}`);
  return { ...(last ?? { wanted: null, commit: null, health: "unknown", warnings: [] }), action: "stopped", release: state.release ?? null, previous: state.previous?.release ?? null, sha256: state.sha256 ?? null };
}

function missingThrow(what: string, flag: string): never {
  throw missing(what, flag);
}
