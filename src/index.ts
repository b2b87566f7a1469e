/** boot-meta's public API. Everything else is internal. */
export { BootMetaError, ExitCode, isBootMetaError } from "./errors.js";

// The SOPS engine: strings for the common case, bytes and trees for the rest.
export { decrypt, encrypt, type DecryptTextOptions, type EncryptTextOptions } from "./sops/simple.js";
export {
  decryptBytes,
  encryptBytes,
  fileStatus,
  openBytes,
  readRecipients,
  rotateBytes,
  sealBytes,
  updateKeysBytes,
  type EncryptOptions,
  type OpenedFile,
  type OpenOptions,
} from "./sops/engine.js";
export { generateAgeKey, parseRecipients } from "./sops/age.js";
export { identitySetFrom, loadIdentities, type IdentitySet } from "./sops/identities.js";
export { formatForPath, type Format } from "./sops/formats/index.js";
export { Branch, Comment, type Tree, type Value, fromPlain, toPlain } from "./sops/tree.js";

// The meta repository and the config loader.
export { loadConfig, type ConfigLayer, type ConfigWarning, type LoadConfigOptions, type LoadedConfig } from "./config/loader.js";
export { watchConfig, type ConfigUpdate, type WatchConfigOptions, type WatchedConfig } from "./config/watch.js";
export { mergeLayers } from "./config/merge.js";
export { findBootstrap, writeBootstrap, BOOTSTRAP_FILE, type Bootstrap } from "./config/bootstrap.js";
export { setConfigValue, unsetConfigValue } from "./config/edit.js";

// Feature flags: flagd's flags, layered and encrypted with the config, evaluated by flagd-core.
export { evaluateFlag, flagsFromConfig, loadFlags, type LoadFlagsOptions } from "./flags/load.js";
export { FlagSet, type EvaluateOptions, type FlagEntry, type FlagEvaluation, type FlagReason, type FlagType } from "./flags/flag-set.js";
export { evaluationContext, type RunsWhere } from "./flags/context.js";
export { setFlag, setFlagState } from "./flags/write.js";
export { accessCheck, accessMatrix, addKey, createEnv, createProject, initRepo, listKeys, removeKey, syncAccess } from "./meta/repo.js";
export type { CommitResult } from "./meta/commit.js";
// Releases, channels, binaries and instances: `boot-meta/records`.
// The captain: a channel's rollout in waves, driven from the records.
export { type CaptainClock, type CaptainOptions, type CaptainProgress, type CaptainResult, type CaptainWave, type InstanceReport, runCaptain } from "./agent/captain.js";
