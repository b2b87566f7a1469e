import { isDeepStrictEqual } from "node:util";
import { type FlattenOptions, flattenConfig } from "../config/flatten.js";
import { type LoadConfigOptions, type LoadedConfig, loadConfig } from "../config/loader.js";
import { type ConfigUpdate, watchConfig } from "../config/watch.js";
import { BootMetaError } from "../errors.js";
import { redactSecrets } from "../redact.js";
import { KEY_ENV_VARS } from "../sops/files.js";
import { superviseChild } from "./child.js";

/** Set by `run` itself, so the child knows what it runs; a config key that would become one is refused. */
export const RUN_VARIABLES = ["BOOT_META_COMMIT", "BOOT_META_PROJECT", "BOOT_META_ENV"] as const;

export interface RunOptions {
  /** Where and what to load, as for loadConfig (identities resolved once, reused on every reload). */
  load: LoadConfigOptions;
  command: string;
  args: string[];
  flatten: Omit<FlattenOptions, "reserved">;
  /** `stderr` under --json: stdout carries only boot-meta's answer. */
  stdout: "inherit" | "stderr";
  /** Follow the config: restart the child (or send it `signal`) when its variables change. */
  watch?: { intervalMs: number; signal?: NodeJS.Signals; graceMs?: number };
  /** Where notes go (stderr); never given a value from the config. */
  note: (line: string) => void;
}

export interface RunResult {
  exitCode: number;
  /** The commit the running child's config was read at (the last one it was started or restarted with). */
  commit: string;
  project: string;
  env: string;
  /** The names the config set in the child's environment, sorted (never values). */
  variables: string[];
  restarts: number;
}

/**
 * `boot-meta run`: loads the config, starts the command with it as environment variables
 * (see flattenConfig for the rules, childEnvironment for what else the child gets), and
 * returns when the child ends, with the exit code to leave with. Nothing is started when
 * the config does not load or flatten. With `watch`, a change to the child's variables
 * restarts it (SIGTERM, the grace period, SIGKILL, start again) or sends it `watch.signal`;
 * a config that fails to load or flatten keeps the running child and says why in a note.
 */
export async function runWithConfig(o: RunOptions): Promise<RunResult> {
  const flatten = { ...o.flatten, reserved: RUN_VARIABLES };
  let running: { loaded: LoadedConfig; vars: Map<string, string> } | undefined;
  let supervisor: ReturnType<typeof superviseChild> | undefined;

  const onUpdate = async ({ newConfig }: ConfigUpdate): Promise<void> => {
    if (!running || !supervisor) return;
    const at = newConfig.commit.slice(0, 12);
    let vars: Map<string, string>;
    try {
      vars = flattenConfig(newConfig.config, flatten);
    } catch (e) {
      return o.note(`the config at ${at} was not applied, the child keeps running with ${running.loaded.commit.slice(0, 12)}'s: ${describe(e)}`);
    }
    if (isDeepStrictEqual(vars, running.vars)) return;
    running = { loaded: newConfig, vars };
    if (o.watch?.signal) {
      o.note(`the config changed at ${at}: sending ${o.watch.signal} to the child (its environment stays as it started)`);
      supervisor.signal(o.watch.signal);
    } else {
      o.note(`the config changed at ${at}: restarting the child`);
      await supervisor.restart(childEnvironment(process.env, vars, newConfig));
    }
  };

  // Followed as any watcher follows it (src/config/watch.ts): the service's stream with a
  // server, else polling the repo every --watch-interval.
  const follow = o.watch ? await watchConfig({ ...o.load, pollIntervalMs: o.watch.intervalMs, onUpdate, onError: (e) => o.note(`could not load the config, the child keeps running with ${running?.loaded.commit.slice(0, 12)}'s: ${describe(e)}`) }) : undefined;
  try {
    const loaded = follow ?? (await loadConfig(o.load));
    const vars = flattenConfig(loaded.config, flatten);
    running = { loaded, vars };
    supervisor = superviseChild({ command: o.command, args: o.args, env: childEnvironment(process.env, vars, loaded), stdout: o.stdout }, { graceMs: o.watch?.graceMs });
    const exitCode = await supervisor.exited;
    return { exitCode, commit: running.loaded.commit, project: loaded.project, env: loaded.env, variables: [...running.vars.keys()].sort(), restarts: supervisor.restarts };
  } finally {
    await follow?.unwatch();
  }
}

/**
 * The child's environment: ours, without the variables that hold or point at our age identity
 * (KEY_ENV_VARS: the child gets the config, not the key that opens it), then the config's
 * variables over it (the config wins over a variable of the same name we were given), then
 * BOOT_META_COMMIT, BOOT_META_PROJECT and BOOT_META_ENV. A config key that becomes one of
 * the identity names is the config's value, and passed.
 */
export function childEnvironment(parent: NodeJS.ProcessEnv, vars: Map<string, string>, loaded: Pick<LoadedConfig, "commit" | "project" | "env">): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent)) if (v !== undefined && !(KEY_ENV_VARS as readonly string[]).includes(k)) env[k] = v;
  for (const [k, v] of vars) env[k] = v;
  env.BOOT_META_COMMIT = loaded.commit;
  env.BOOT_META_PROJECT = loaded.project;
  env.BOOT_META_ENV = loaded.env;
  return env;
}

function describe(e: unknown): string {
  return redactSecrets(e instanceof BootMetaError ? `[${e.code}] ${e.message}` : e instanceof Error ? e.message : String(e));
}
