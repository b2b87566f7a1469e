/**
 * boot-meta's records API (`import … from "boot-meta/records"`): releases, channels,
 * binaries, instances and import pins in the meta repository, stored as the proto3 JSON mapping of
 * proto/bootmeta/v1/records.proto. Every function that writes makes one commit (pushed with
 * `push: true`, retried on a lost race, never forced) and throws a `BootMetaError` whose
 * `code` says why: RECORD_INVALID (a record that does not match its schema or its path),
 * RECORD_NOT_FOUND, RECORD_EXISTS, RELEASE_VERSION_EXISTS, CHANNEL_CONFLICT (a
 * compare-and-swap lost), CHANNEL_NOT_FOUND, CHANNEL_GATE_* (a promotion gate not met), IMPORT_* (import pins), SIGNER_*, META_* (the repository and git).
 */
export { addBinary, binaryVerify, binaryWhich, digestFile, type Provenance, type ReadOptions } from "./binaries.js";
export { renderBuildInfo } from "./buildinfo.js";
export { channelHistory, promoteChannel, rollbackChannel, showChannel } from "./channels.js";
export { approveChannel, gateState, type GateState } from "./gates.js";
export { decodeRecord, encodeRecord, encodeRecordBinary, type RecordKind } from "./codec.js";
export { goVersionOf } from "./goversion.js";
export { type PinTarget, parsePinTarget, renderGo, renderNpm, type Resolution, type ResolvedImport, resolveImports, setImport, showImports, unsetImport } from "./imports.js";
export { listInstances, reportInstance } from "./instances.js";
export { createRelease, getRelease, listReleases, parseCommitSpec, releaseId } from "./releases.js";
export { type Rollout, rolloutCount, rolloutOf } from "./rollout.js";
export type * from "./types.js";
