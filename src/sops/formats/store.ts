import type { Branch, Tree, Value } from "../tree.js";

/** File formats sops knows (`cmd/sops/formats/formats.go`). */
export type Format = "yaml" | "json" | "dotenv" | "ini" | "binary";

/** Emitting options that `.sops.yaml` `stores:` or `--indent` can set. */
export interface EmitOptions {
  /** YAML: spaces (default 4). JSON: spaces, or -1/undefined for a tab (sops' default). */
  indent?: number;
}

/** How a file is being loaded. */
export interface LoadOptions {
  /** The file's name as the user knows it, for messages (limits, invalid UTF-8). */
  file?: string;
}

/**
 * A SOPS store: turns file bytes into a {@link Tree} and back.
 *
 * The metadata travels as a {@link Branch} shaped like the YAML/JSON `sops` map (lists of
 * branches, strings, bigint, booleans); flattened formats (dotenv, INI) flatten/unflatten it
 * themselves. Stores are pure: bytes in, bytes out, no I/O.
 */
export interface Store {
  readonly format: Format;
  /**
   * Parses a plaintext file. Throws `SOPS_MALFORMED_FILE` on syntax errors, and the INPUT_*
   * errors of src/limits.ts for a file past a limit or (text formats) not UTF-8.
   */
  loadPlain(data: Uint8Array, o?: LoadOptions): Tree;
  /**
   * Parses an encrypted file: the tree without the metadata, and the metadata as a branch
   * (taken from the first document; `sops` keys in later documents are dropped).
   * Throws `SOPS_NOT_ENCRYPTED` when there is no metadata.
   */
  loadEncrypted(data: Uint8Array, o?: LoadOptions): { tree: Tree; metadata: Branch };
  emitPlain(tree: Tree, opts?: EmitOptions): Uint8Array;
  /** Emits the tree with the metadata appended as the last item of every document's root (sops metadata.go). */
  emitEncrypted(tree: Tree, metadata: Branch, opts?: EmitOptions): Uint8Array;
  /** Emits a single value, for `decrypt --extract` of a non-string. */
  emitValue(value: Value, opts?: EmitOptions): Uint8Array;
  /** True if the plaintext already carries sops metadata (sops refuses to encrypt it twice). */
  hasMetadata(tree: Tree): boolean;
}
