import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { contextFrom, fileFlags, formatFlag, ignoreMacFlag } from "../cli/sops-flags.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { readStdinCapped, readUserFile } from "../io.js";
import { decodeUtf8 } from "../limits.js";
import { setInFile } from "../sops/files.js";
import { parseTreePath } from "../sops/tree-path.js";

export default class Set extends BaseCommand {
  static override summary = "Set one value in an encrypted file without an editor.";
  static override description =
    "VALUE is JSON, as sops takes it: '\"text\"' for a string, 42, true, '{\"a\":1}'. Missing keys are created at the end of their map. Every other value keeps its ciphertext.";
  static override examples = [
    `<%= config.bin %> set secrets.yaml '["database"]["password"]' '"s3cret"'`,
    `<%= config.bin %> set --value-stdin secrets.yaml '["tls"]["key"]' < key.json`,
  ];
  static override args = {
    file: Args.string({ description: "the encrypted file", required: true }),
    index: Args.string({ description: `where, e.g. '["a"]["b"][0]'`, required: true }),
    value: Args.string({ description: "the value as JSON (or --value-file / --value-stdin)" }),
  };
  static override flags = {
    ...fileFlags,
    ...ignoreMacFlag,
    "value-file": Flags.string({ description: "read the JSON value from this file" }),
    "value-stdin": Flags.boolean({ description: "read the JSON value from standard input" }),
    idempotent: Flags.boolean({ description: "do nothing (and exit 0) when the value is already set" }),
  };

  async run(): Promise<{ file: string; path: string; changed: boolean }> {
    const { args, flags } = await this.parse(Set);
    const sources = [args.value !== undefined, flags["value-file"] !== undefined, flags["value-stdin"]].filter(Boolean).length;
    if (sources !== 1) throw new BootMetaError("INVALID_ARGUMENT", "give the value exactly once: as an argument, --value-file or --value-stdin", ExitCode.InvalidArgument);
    const file = flags["value-file"];
    const value = args.value ?? (file ? decodeUtf8(await readUserFile(file), file) : decodeUtf8(await readStdinCapped(), "standard input"));
    const r = await setInFile(args.file, parseTreePath(args.index), value, { inputType: formatFlag(flags["input-type"]), idempotent: flags.idempotent, ignoreMac: flags["ignore-mac"] }, contextFrom(flags));
    this.note(r.changed ? `set ${args.index} in ${args.file}` : `${args.index} already has that value; ${args.file} left as it was`);
    return { file: args.file, path: args.index, changed: r.changed };
  }
}
