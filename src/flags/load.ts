import type { FlagValue, Logger } from "@openfeature/core";
import { findBootstrap } from "../config/bootstrap.js";
import { type LoadConfigOptions, type LoadedConfig, layerValuesOf, loadConfig } from "../config/loader.js";
import type { RunsWhere } from "./context.js";
import { buildFlagSet, type EvaluateOptions, type FlagEvaluation, FlagSet } from "./flag-set.js";
import { layerFlags } from "./layers.js";

export interface LoadFlagsOptions extends LoadConfigOptions {
  /** The channel this code runs on (default: BOOT_META_CHANNEL, then the bootstrap file's `channel`). */
  channel?: string;
  /** The release version it runs (default: BOOT_META_RELEASE, then the bootstrap file's `release`). */
  release?: string;
  /** The release id it runs (default: BOOT_META_RELEASE_ID). */
  releaseId?: string;
  /** This instance's id, also the default targeting key (default: BOOT_META_INSTANCE, then the bootstrap file's `instance`). */
  instance?: string;
  /** Told what flagd-core has to say (targeting it could not run); default: nothing. */
  logger?: Logger;
}

type Where = Pick<RunsWhere, "channel" | "release" | "releaseId" | "instance">;

/**
 * Options, then BOOT_META_* variables, then the bootstrap file: the same order as the repo, project and env.
 * @internal Shared with the OpenFeature provider, which builds a flag set per watched config.
 */
export async function runsWhere(o: LoadFlagsOptions): Promise<Where> {
  const env = o.environment ?? process.env;
  const boot = (await findBootstrap(o.cwd ?? process.cwd())) ?? {};
  const pick = (given: string | undefined, variable: string, file: string | undefined) => given ?? (env[variable] || undefined) ?? file;
  const w: Where = {
    channel: pick(o.channel, "BOOT_META_CHANNEL", boot.channel),
    release: pick(o.release, "BOOT_META_RELEASE", boot.release),
    releaseId: pick(o.releaseId, "BOOT_META_RELEASE_ID", undefined),
    instance: pick(o.instance, "BOOT_META_INSTANCE", boot.instance),
  };
  return Object.fromEntries(Object.entries(w).filter(([, v]) => v !== undefined)) as Where;
}

/**
 * The flags of a loaded config, merged per flag from its layers and compiled. For a provider
 * that follows the repo: build one per `LoadedConfig` it is handed.
 */
export function flagsFromConfig(c: LoadedConfig, where: Where = {}, o: { logger?: Logger } = {}): Promise<FlagSet> {
  // A LoadedConfig not made by loadConfig (a copy) has no layers: its deep-merged flags are all there is.
  const layers = layerValuesOf(c) ?? [{ name: "merged", path: `${c.project} ${c.env}`, value: { flags: c.flags } }];
  return buildFlagSet(layerFlags(layers), { project: c.project, env: c.env, commit: c.commit, ...where }, o);
}

/**
 * Loads a project and env's flags from the meta repo, as `loadConfig` loads its config (same
 * options, same identities: flags are encrypted with the rest), merged per flag and validated
 * against flagd's schema. An invalid flag does not fail the load: it is kept with its errors
 * and evaluates to ERROR / PARSE_ERROR.
 *
 * Throws what `loadConfig` throws (`CONFIG_ACCESS_DENIED`, `CONFIG_NOT_FOUND`,
 * `CONFIG_NOT_CONFIGURED`, `META_NOT_A_REPO`, …).
 */
export async function loadFlags(o: LoadFlagsOptions = {}): Promise<FlagSet> {
  const [c, where] = await Promise.all([loadConfig(o), runsWhere(o)]);
  return flagsFromConfig(c, where, { logger: o.logger });
}

/**
 * Loads the flags (see `loadFlags`) and evaluates one. Throws only what loading throws; a
 * missing, invalid, disabled or mistyped flag is an answer (reason and errorCode), not an
 * exception.
 */
export async function evaluateFlag<T extends FlagValue = FlagValue>(key: string, o: LoadFlagsOptions & EvaluateOptions<T> = {}): Promise<FlagEvaluation<T>> {
  const flags = await loadFlags(o);
  return flags.evaluate<T>(key, o);
}

export { FlagSet };
