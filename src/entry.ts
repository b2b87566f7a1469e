/**
 * What `import("boot-meta")` runs: the names of index.ts, with the same types (test/api.test.ts
 * holds both), arranged for start-up. A service imports the package to call `loadConfig` once,
 * so what `loadConfig` needs loads with the import, and so do the classes, constants and
 * synchronous functions (they cannot wait for a module); every other function is an `async`
 * one here that imports its module on its first call — the writers, access checks, flag
 * evaluation and watching, with the yaml emitter, simple-git and flagd-core under them.
 * index.ts stays the API's one description (its .d.ts is the package's types); this file is
 * bundled, with what it loads at once, into one CommonJS chunk that dist/bundle/index.js
 * compiles with a V8 code cache made at build time (scripts/bundle.mjs, library-entry.mjs,
 * code-cache.mjs). README "Start-up".
 */
export { BootMetaError, ExitCode, isBootMetaError } from "./errors.js";
export { loadConfig } from "./config/loader.js";
// The engine and age.ts whole: loadConfig opens files with them, and their writers are the same modules.
export { decryptBytes, encryptBytes, fileStatus, openBytes, readRecipients, rotateBytes, sealBytes, updateKeysBytes } from "./sops/engine.js";
export { generateAgeKey, parseRecipients } from "./sops/age.js";
export { identitySetFrom, loadIdentities } from "./sops/identities.js";
export { formatForPath } from "./sops/formats/index.js";
export { Branch, Comment, fromPlain, toPlain } from "./sops/tree.js";
export { mergeLayers } from "./config/merge.js";
export { findBootstrap, writeBootstrap, BOOTSTRAP_FILE } from "./config/bootstrap.js";
export { FlagSet } from "./flags/flag-set.js";
export { evaluationContext } from "./flags/context.js";

/**
 * `name` of the module `load` imports, as a function that imports it on its first call. Only
 * for functions that return a promise, so that callers see no difference but the wait.
 */
function later<M extends { [k in K]: (...args: never[]) => Promise<unknown> }, K extends keyof M>(load: () => Promise<M>, name: K): M[K] {
  const f = async (...args: never[]) => (await load())[name](...args);
  return f as M[K];
}

const simple = () => import("./sops/simple.js");
const repo = () => import("./meta/repo.js");
const flags = () => import("./flags/load.js");
const flagWrites = () => import("./flags/write.js");
const configWrites = () => import("./config/edit.js");

export const decrypt = later(simple, "decrypt");
export const encrypt = later(simple, "encrypt");
export const watchConfig = later(() => import("./config/watch.js"), "watchConfig");
export const setConfigValue = later(configWrites, "setConfigValue");
export const unsetConfigValue = later(configWrites, "unsetConfigValue");
export const evaluateFlag = later(flags, "evaluateFlag");
export const flagsFromConfig = later(flags, "flagsFromConfig");
export const loadFlags = later(flags, "loadFlags");
export const setFlag = later(flagWrites, "setFlag");
export const setFlagState = later(flagWrites, "setFlagState");
export const accessCheck = later(repo, "accessCheck");
export const accessMatrix = later(repo, "accessMatrix");
export const addKey = later(repo, "addKey");
export const createEnv = later(repo, "createEnv");
export const createProject = later(repo, "createProject");
export const initRepo = later(repo, "initRepo");
export const listKeys = later(repo, "listKeys");
export const removeKey = later(repo, "removeKey");
export const syncAccess = later(repo, "syncAccess");
export const runCaptain = later(() => import("./agent/captain.js"), "runCaptain");
