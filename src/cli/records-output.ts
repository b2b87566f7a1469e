import { Flags } from "@oclif/core";
import { BootMetaError, ExitCode } from "../errors.js";
import { encodeRecordBinary, type RecordKind } from "../records/codec.js";
import { BaseCommand } from "./base.js";

/** How a record verb prints its record for programs (DESIGN.md "Arguments": record verbs choose a format with --format). */
export const recordFormatFlag = {
  format: Flags.string({
    description: "for programs: json prints the result as --json does (records in the proto3 JSON mapping); proto writes the record's binary protobuf encoding to stdout",
    options: ["json", "proto"],
    // The flag's old name; --output now means "write to this file" only, in the sops verbs.
    aliases: ["output"],
    deprecateAliases: true,
  }),
};

/** A record verb: `--format json` is `--json` by another name, `--format proto` writes the record's protobuf bytes. */
export abstract class RecordCommand extends BaseCommand {
  override jsonEnabled(): boolean {
    return super.jsonEnabled() || formatIn(this.argv) === "json";
  }

  // Refused before the command runs: `release create` would have written the release already.
  override async init(): Promise<void> {
    await super.init();
    if (super.jsonEnabled() && formatIn(this.argv) === "proto") throw new BootMetaError("INVALID_ARGUMENT", "--json and --format proto ask for two outputs: give one of them", ExitCode.InvalidArgument);
  }

  /** Writes a record's binary encoding to stdout for `--format proto`; true when it did. */
  protected writeProto(flags: { format?: string }, kind: RecordKind, value: unknown): boolean {
    if (flags.format !== "proto") return false;
    process.stdout.write(encodeRecordBinary(kind, value));
    return true;
  }
}

/** The value of --format (or its old name --output) in ARGV, before any `--`, as oclif reads --json there. */
export function formatIn(argv: string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") break;
    if (a === "--format" || a === "--output") found = argv[++i];
    else if (a.startsWith("--format=") || a.startsWith("--output=")) found = a.slice(a.indexOf("=") + 1);
  }
  return found;
}
