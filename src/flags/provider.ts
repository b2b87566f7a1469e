import {
  ErrorCode,
  type EvaluationContext,
  type FlagValue,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  StandardResolutionReasons,
} from "@openfeature/server-sdk";
import type { ConfigWarning } from "../config/clone.js";
import type { LoadedConfig } from "../config/types.js";
import { type WatchConfigOptions, type WatchedConfig, watchConfig } from "../config/watch.js";
import { isBootMetaError } from "../errors.js";
import type { FlagSet, FlagType } from "./flag-set.js";
import { flagsFromConfig, type LoadFlagsOptions, loadFlags, runsWhere } from "./load.js";

/**
 * `boot-meta/openfeature`: an OpenFeature server provider that evaluates boot-meta's flags
 * in-process (flagd-core over the flags of `loadConfig`/`watchConfig`). Not imported by the
 * main entry: an app that does not use OpenFeature does not load its SDK.
 */

export interface BootMetaProviderOptions extends LoadFlagsOptions, Omit<WatchConfigOptions, "onUpdate"> {
  /**
   * Follow the meta repo (or config service) with `watchConfig` and emit ConfigurationChanged
   * when a flag's definition changes (default true). `false` loads the flags once.
   */
  watch?: boolean;
}

/** Warnings that mean the flags in hand may be behind the repo: the provider turns STALE. */
const STALE_WARNINGS = new Set(["CONFIG_STALE", "CONFIG_WATCH_RETRYING"]);

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * boot-meta's flags as an OpenFeature provider (`@openfeature/server-sdk`):
 *
 * ```ts
 * await OpenFeature.setProviderAndWait(new BootMetaProvider({ project: "shop", env: "prod" }));
 * const on = await OpenFeature.getClient().getBooleanValue("new_checkout", false, { customer: "c-1" });
 * ```
 *
 * `initialize` loads the flags (the options are `loadFlags`'s and `watchConfig`'s, so the repo,
 * project, env, identities, channel, release and instance come from the options, BOOT_META_*
 * variables or the bootstrap file) and throws what `loadConfig` throws. Evaluation is
 * synchronous over the flags in hand, with the SDK's context on top of where the code runs
 * (`FlagSet.where`). Each answer's `flagMetadata` holds the flag's own metadata and boot-meta's
 * `commit`, `project` and `env` (those three win over a flag metadata key of the same name).
 *
 * Events, while watching:
 * - a change of the config that changes flag definitions: ConfigurationChanged with
 *   `flagsChanged` (added, removed and changed keys only; a change to other config values
 *   emits nothing) and `metadata.commit`;
 * - a change that could not be loaded (a layer this reader can no longer open, a file that fails
 *   its MAC), a config service that cannot be reached (`CONFIG_WATCH_RETRYING`), a git URL that
 *   cannot be fetched (`CONFIG_STALE`, also when the first load was served from the last copy):
 *   Stale, with the message and `metadata.code`. The provider keeps answering from the last
 *   flags it loaded (the SDK evaluates in STALE); it turns READY again (a Ready event) once the
 *   watcher has loaded a fresh config since, seen at the next evaluation or change. (A config
 *   service back after an outage at the very commit it was at is not seen: no load follows.)
 * Error (PROVIDER_ERROR) is left to the SDK for an `initialize` that failed: a provider that has
 * flags never stops answering. `onError` and `onWarning`, when given, are called as well
 * (default: `process.emitWarning`).
 */
export class BootMetaProvider implements Provider {
  readonly metadata = { name: "boot-meta" } as const;
  readonly runsOn = "server" as const;
  readonly events = new OpenFeatureEventEmitter();

  private readonly o: BootMetaProviderOptions;
  private flags: FlagSet | undefined;
  private watched: WatchedConfig | undefined;
  /** STALE: told, and not yet recovered from. */
  private isStale = false;
  /** While STALE: the config the watcher had then; another one, not itself stale, means it has loaded since. */
  private staleAt: LoadedConfig | undefined;
  /** A stale-copy warning from the first load, told once the SDK has made the provider READY. */
  private startedStale: ConfigWarning | undefined;
  private tellStale: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(o: BootMetaProviderOptions = {}) {
    this.o = o;
  }

  /** The flags the provider answers from now (undefined before `initialize` and after `onClose`). */
  get flagSet(): FlagSet | undefined {
    return this.flags;
  }

  async initialize(): Promise<void> {
    this.closed = false;
    this.isStale = false;
    this.staleAt = undefined;
    this.startedStale = undefined;
    if (this.o.watch === false) {
      this.flags = await loadFlags({ ...this.o, onWarning: (w) => this.warned(w) });
      this.startStale();
      return;
    }
    const where = await runsWhere(this.o);
    // The first flag set is built before any update is taken: updates wait for it.
    let first!: () => void;
    const built = new Promise<void>((resolve) => (first = resolve));
    const watched = await watchConfig({
      ...this.o,
      onUpdate: async ({ newConfig, commit }) => {
        await built;
        const next = await flagsFromConfig(newConfig, where, { logger: this.o.logger });
        if (this.closed || this.watched !== watched) return;
        const previous = this.flags;
        this.flags = next;
        if (!newConfig.stale) this.recovered();
        const flagsChanged = previous ? previous.changedKeys(next) : next.keys();
        if (flagsChanged.length) this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged, message: `boot-meta flags changed at commit ${commit}`, metadata: { commit } });
      },
      onError: (e) => {
        this.stale(e.message, isBootMetaError(e) ? e.code : "CONFIG_WATCH_ERROR");
        (this.o.onError ?? ((err: Error) => process.emitWarning(err.message, { code: isBootMetaError(err) ? err.code : "CONFIG_WATCH_ERROR" })))(e);
      },
      onWarning: (w) => this.warned(w),
    });
    this.watched = watched;
    try {
      this.flags = await flagsFromConfig(watched, where, { logger: this.o.logger });
    } catch (e) {
      this.watched = undefined;
      await watched.unwatch();
      throw e;
    } finally {
      first();
    }
    this.startStale();
  }

  /** A loader's warning: passed on, and a stale copy makes the provider STALE. */
  private warned(w: ConfigWarning): void {
    if (STALE_WARNINGS.has(w.code)) {
      if (this.flags) this.stale(w.message, w.code);
      else this.startedStale ??= w;
    }
    (this.o.onWarning ?? ((x: ConfigWarning) => process.emitWarning(x.message, { code: x.code })))(w);
  }

  /**
   * Started from a stale copy (a git URL that could not be fetched, the config service's cache):
   * STALE, told after `initialize` resolved, since the SDK makes a provider READY then.
   */
  private startStale(): void {
    const w = this.startedStale;
    if (!w) return;
    this.startedStale = undefined;
    this.tellStale = setImmediate(() => {
      this.tellStale = undefined;
      this.stale(w.message, w.code);
    });
  }

  async onClose(): Promise<void> {
    this.closed = true;
    clearImmediate(this.tellStale);
    this.tellStale = undefined;
    this.isStale = false;
    const w = this.watched;
    this.watched = undefined;
    this.flags = undefined;
    this.staleAt = undefined;
    await w?.unwatch();
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return Promise.resolve(this.resolve("boolean", flagKey, defaultValue, context));
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return Promise.resolve(this.resolve("string", flagKey, defaultValue, context));
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>> {
    return Promise.resolve(this.resolve("number", flagKey, defaultValue, context));
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    return Promise.resolve(this.resolve("object", flagKey, defaultValue, context));
  }

  /** One evaluation over the flags in hand, in OpenFeature's terms. */
  private resolve<T extends FlagValue>(type: FlagType, key: string, defaultValue: T, context: EvaluationContext): ResolutionDetails<T> {
    const flags = this.flags;
    if (!flags) {
      return { value: defaultValue, reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.PROVIDER_NOT_READY, errorMessage: "the boot-meta provider has no flags: it was not initialized, or was closed" };
    }
    if (this.isStale && this.watched) {
      const now = this.watched.current();
      if (now !== this.staleAt && !now.stale) this.recovered();
    }
    const r = flags.evaluate<T>(key, { type, defaultValue, context });
    const out: ResolutionDetails<T> = {
      value: (r.value ?? defaultValue) as T,
      reason: r.reason,
      flagMetadata: { ...r.flagMetadata, commit: r.commit, project: flags.project, env: flags.env },
    };
    if (r.variant !== null) out.variant = r.variant;
    if (r.errorCode !== null) out.errorCode = (ERROR_CODES.has(r.errorCode) ? r.errorCode : ErrorCode.GENERAL) as ErrorCode;
    if (r.errorMessage !== null) out.errorMessage = r.errorMessage;
    return out;
  }

  /** The flags in hand may be behind the source: STALE, told once until the provider recovers. */
  private stale(message: string, code: string): void {
    if (this.closed || this.isStale || !this.flags) return;
    this.isStale = true;
    this.staleAt = this.watched?.current();
    this.events.emit(ProviderEvents.Stale, { message, metadata: { code, commit: this.flags?.commit ?? "" } });
  }

  /** The watcher has loaded the config again since it went STALE: READY. */
  private recovered(): void {
    if (!this.isStale || this.closed) return;
    this.isStale = false;
    this.staleAt = undefined;
    this.events.emit(ProviderEvents.Ready, { message: "boot-meta flags are up to date again", metadata: { commit: this.flags?.commit ?? "" } });
  }
}
