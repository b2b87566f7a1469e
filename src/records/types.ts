/** TypeScript views of proto/bootmeta/v1/records.proto (proto3 JSON names). */
export interface RepoRef {
  name: string;
  url?: string;
  commit: string;
  ref?: string;
  dirty?: boolean;
}
export interface Release {
  id: string;
  project: string;
  version: string;
  repos: RepoRef[];
  createdBy?: string;
  createdAt: string;
  notes?: string;
}
export interface Rollout {
  percent: number;
  previousReleaseId?: string;
}
export interface Channel {
  project: string;
  name: string;
  releaseId: string;
  rollout?: Rollout;
  updatedBy?: string;
  updatedAt: string;
  /** Where this state stands in the channel's history (see records.proto). */
  generation?: number;
  backTo?: number;
  restores?: number;
}
export interface Signature {
  format: "sshsig";
  signer?: string;
  publicKey: string;
  signature: string;
}
export interface BinaryRecord {
  sha256: string;
  /** uint64: a decimal string in the JSON mapping */
  size: string;
  os: string;
  arch: string;
  project: string;
  releaseId: string;
  urls: string[];
  signatures?: Signature[];
  createdBy?: string;
  createdAt: string;
  /** A sealed record (its file is `<sha256>.sops.json`): the env whose readers open the URLs; absent: the project's readers. */
  sealedEnv?: string;
}
export interface Instance {
  id: string;
  project: string;
  channel?: string;
  releaseId: string;
  status?: string;
  changedAt: string;
  labels?: Record<string, string>;
}
