import { Flags } from "@oclif/core";
import type { SelectionRule } from "../sops/selection.js";
import { BootMetaError, ExitCode } from "../errors.js";

export { contextFrom, emitOutput, formatFlag } from "./sops-output.js";

const formats = ["yaml", "json", "dotenv", "ini", "binary"];

/** Flags every sops file verb shares, named as the sops CLI names them. */
export const fileFlags = {
  "input-type": Flags.string({ description: "format of the input file (default: from its extension; unknown extensions are binary)", options: formats }),
  "output-type": Flags.string({ description: "format of the output (default: the input format)", options: formats }),
  config: Flags.string({ description: "path to .sops.yaml (default: found from the current directory upward; or SOPS_CONFIG)" }),
};

export const ignoreMacFlag = {
  "ignore-mac": Flags.boolean({ description: "skip the MAC check (to recover a damaged file; values are still authenticated one by one)" }),
};

export const outputFlags = {
  "in-place": Flags.boolean({ char: "i", description: "write the result over the input file" }),
  output: Flags.string({ description: "write the result to this file instead of stdout" }),
};

export const creationFlags = {
  age: Flags.string({ char: "a", description: "age recipients, comma separated (replace the .sops.yaml rule's keys; or SOPS_AGE_RECIPIENTS)" }),
  "unencrypted-suffix": Flags.string({ description: "leave values whose key (or an ancestor's) ends with this suffix in the clear" }),
  "encrypted-suffix": Flags.string({ description: "encrypt only values whose key (or an ancestor's) ends with this suffix" }),
  "unencrypted-regex": Flags.string({ description: "leave values whose key (or an ancestor's) matches this regex in the clear" }),
  "encrypted-regex": Flags.string({ description: "encrypt only values whose key (or an ancestor's) matches this regex" }),
  "unencrypted-comment-regex": Flags.string({ description: "leave values below a comment matching this regex in the clear" }),
  "encrypted-comment-regex": Flags.string({ description: "encrypt only values below a comment matching this regex" }),
  "mac-only-encrypted": Flags.boolean({ description: "compute the MAC over encrypted values only" }),
  "shamir-secret-sharing-threshold": Flags.integer({ description: "with several key groups: how many groups are needed to decrypt" }),
  indent: Flags.integer({ description: "indentation of YAML/JSON output" }),
};

export function selectionFrom(flags: Record<string, unknown>): SelectionRule | undefined {
  const kinds = ["unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex", "unencrypted_comment_regex", "encrypted_comment_regex"] as const;
  const given = kinds.filter((k) => typeof flags[k.replaceAll("_", "-")] === "string");
  if (given.length > 1) {
    throw new BootMetaError("INVALID_ARGUMENT", `give at most one of ${given.map((k) => `--${k.replaceAll("_", "-")}`).join(", ")}: sops files carry a single selection rule`, ExitCode.InvalidArgument);
  }
  const kind = given[0];
  return kind ? { kind, value: flags[kind.replaceAll("_", "-")] as string } : undefined;
}
