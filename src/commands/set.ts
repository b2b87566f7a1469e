import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { contextFrom, fileFlags, formatFlag, ignoreMacFlag } from "../cli/sops-flags.js";
import { readValue } from "../cli/value-source.js";
import { setInFile } from "../sops/files.js";
import { parseTreePath } from "../sops/tree-path.js";

export default class Set extends BaseCommand {
  static override summary = "Set one value in an encrypted file without an editor.";
  static override description =
    "VALUE is JSON, as sops takes it: '\"text\"' for a string, 42, true, '{\"a\":1}'. Missing keys are created at the end of their map. Every other value keeps its ciphertext. A secret is best given on standard input (--value-stdin, or - as VALUE) or in a file (--value-file): an argument shows in `ps` and the shell history.";
  static override examples = [
    `<%= config.bin %> set secrets.yaml '["database"]["password"]' '"s3cret"'`,
    `<%= config.bin %> set --value-stdin secrets.yaml '["tls"]["key"]' < key.json`,
    `jq -Rs . < key.pem | <%= config.bin %> set secrets.yaml '["tls"]["key"]' -`,
  ];
  // ignoreStdin: oclif would otherwise fill a missing VALUE from whatever is piped in (trimmed).
  static override args = {
    file: Args.string({ description: "the encrypted file", required: true }),
    index: Args.string({ description: `where, e.g. '["a"]["b"][0]'`, required: true }),
    value: Args.string({ description: "the value as JSON; - reads it from standard input (or --value-file / --value-stdin)", ignoreStdin: true }),
  };
  static override flags = {
    ...fileFlags,
    ...ignoreMacFlag,
    "value-file": Flags.string({ description: "read the JSON value from this file" }),
    "value-stdin": Flags.boolean({ description: "read the JSON value from standard input", aliases: ["stdin"] }),
    idempotent: Flags.boolean({ description: "do nothing (and exit 0) when the value is already set" }),
  };

  async run(): Promise<{ file: string; path: string; changed: boolean }> {
    const { args, flags } = await this.parse(Set);
    const { text: value } = await readValue({ arg: args.value, file: flags["value-file"], stdin: flags["value-stdin"] }, { file: "--value-file", stdin: "--value-stdin" });
    const r = await setInFile(args.file, parseTreePath(args.index), value, { inputType: formatFlag(flags["input-type"]), idempotent: flags.idempotent, ignoreMac: flags["ignore-mac"] }, contextFrom(flags));
    this.note(r.changed ? `set ${args.index} in ${args.file}` : `${args.index} already has that value; ${args.file} left as it was`);
    return { file: args.file, path: args.index, changed: r.changed };
  }
}
