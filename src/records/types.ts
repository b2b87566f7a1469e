/**
 * TypeScript views of the records in proto/bootmeta/v1/records.proto (proto3 JSON names),
 * generated from it (generated.ts): a field marked [(required) = true] there is required here.
 */
export type { Binary as BinaryRecord, BinaryIndex, Channel, Import, ImportPin, Imports, Instance, Release, RepoRef, Rollout, Signature } from "./generated.js";
