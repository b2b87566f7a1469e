import { Flags } from "@oclif/core";
import { encodeRecordBinary, type RecordKind } from "../records/codec.js";

export const outputFlag = {
  output: Flags.string({ description: "json (default: the proto3 JSON mapping) or proto (the binary protobuf encoding, to stdout)", options: ["json", "proto"], default: "json" }),
};

/** Writes a record's binary encoding to stdout for `--output proto`; true when it did. */
export function writeProto(flags: { output?: string }, kind: RecordKind, value: unknown): boolean {
  if (flags.output !== "proto") return false;
  process.stdout.write(encodeRecordBinary(kind, value));
  return true;
}
