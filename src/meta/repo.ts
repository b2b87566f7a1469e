/**
 * The meta repository's verbs, by concern: state.ts (reading the rules, keys and governed
 * files), access.ts (who reads what, checks, re-keying), keys.ts (principals and sync),
 * projects.ts (init, projects, envs). This module gathers them for callers that want all.
 */
export { type AccessCheckResult, accessCheck, accessMatrix, type AccessMatrix, type Drift, type Governed, governedFiles, type Refused, type RekeyResult, rekey } from "./access.js";
export { addKey, listKeys, type Principal, removeKey, syncAccess, type WriteOptions } from "./keys.js";
export { createEnv, createProject, initRepo, newConfigFile } from "./projects.js";
export { readState, readStateAt } from "./state.js";
export { defaultsFile, envFile } from "./layout.js";
