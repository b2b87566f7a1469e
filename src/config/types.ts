import type { IdentitySet } from "../sops/identities.js";
import type { ConfigWarning } from "./clone.js";
import type { ConfigLayer } from "./layers.js";
import type { Plain } from "./merge.js";

export type { ConfigWarning } from "./clone.js";
export type { ConfigLayer } from "./layers.js";

export interface LoadConfigOptions {
  /**
   * Local path or git URL of the meta repo (default: BOOT_META_REPO, then the bootstrap file).
   * Not together with `server`.
   */
  repo?: string;
  /**
   * The config service (`boot-meta serve`) to load from instead of a repo: `http://host:8080`
   * (default: BOOT_META_SERVER). It sends ciphertext; the layers are decrypted here with the
   * reader's own identities, and the last verified copy is kept in `cacheDir` to start from when
   * the service cannot be reached.
   */
  server?: string;
  project?: string;
  /** `dev`, `stage`, `prod`, `dev/alice`, … (default: BOOT_META_ENV, then the bootstrap file). */
  env?: string;
  /** A commit or ref to read at (default: HEAD; for a URL, the remote's default branch). Not with `server`, which serves its newest commit. */
  at?: string;
  /**
   * The identities to decrypt with, replacing every other source: SOPS_AGE_KEY,
   * SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, SSH keys, the bootstrap file's identity and the default
   * keys.txt are not read. `AGE-SECRET-KEY-1…` strings (or whole identity files' text), or a
   * loaded set. Load as one principal sees it: `{ identities: [aliceKey] }`.
   */
  identities?: string[] | IdentitySet;
  /** Identities used as well as those found (the sops lookup, or `identities` when given): `AGE-SECRET-KEY-1…` strings. */
  addIdentities?: string[];
  /** An identity file added to the sops lookup, as the bootstrap file's `identity` (which it overrides). */
  identityFile?: string;
  /**
   * Where git URLs are cloned (default: $XDG_CACHE_HOME/boot-meta/repos) and, with `server`,
   * where the last verified answer of the service is kept (default:
   * $XDG_CACHE_HOME/boot-meta/server).
   */
  cacheDir?: string;
  /**
   * For a git URL: the remote's branch or tag to follow (default: BOOT_META_REF, then the
   * remote's default branch, followed when it changes).
   */
  ref?: string;
  /** With `server`: how long a request may take before the service counts as unreachable (default 10 s). */
  requestTimeoutMs?: number;
  /**
   * Told what a person should know, e.g. that the remote or the config service was unreachable
   * and the last copy was served (`CONFIG_STALE`). Default: `process.emitWarning`.
   */
  onWarning?: (w: ConfigWarning) => void;
  /**
   * Verify who wrote what from this commit (README "Signed history"; default:
   * BOOT_META_TRUST_ROOT, then the bootstrap file's `trust-root`). A layer whose newest change
   * was not made by someone allowed to make it is read at its last trusted version, and
   * `onWarning` is told (`CONFIG_UNVERIFIED`). For a repo or git URL; a config service given a
   * trust root (`serve --trust-root`) does the same for what it serves.
   */
  trustRoot?: string;
  cwd?: string;
  environment?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  /** The merged config, flags included. */
  config: Plain;
  /** `config.flags`, for convenience. */
  flags: Plain;
  /** The commit every layer was read at: the version of this config. */
  commit: string;
  /** The meta repo's directory (the cached clone for a git URL), or the config service's URL. */
  repo: string;
  /** The config service's URL, when loaded from one. */
  server?: string;
  project: string;
  env: string;
  layers: ConfigLayer[];
  /** dotted key → the layer it came from */
  origins: Record<string, string>;
  /**
   * True when the git URL or the config service could not be reached and the last copy
   * fetched (and verified) was read instead (last known good; `onWarning` was told).
   */
  stale: boolean;
  /** With a trust root: the layers read at their last trusted version instead of `commit`'s, and why. */
  untrusted?: { path: string; commit: string; reason: string; message: string }[];
}
