import { createInterface } from "node:readline/promises";
import { Args } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { contextFrom, creationFlags, fileFlags, formatFlag, ignoreMacFlag, selectionFrom } from "../cli/sops-flags.js";
import { editFile } from "../sops/files.js";

export default class Edit extends BaseCommand {
  static override summary = "Edit an encrypted file in $EDITOR; only changed values get new ciphertext.";
  static override description =
    "Decrypts into a private scratch file (mode 0600 in a 0700 directory, on a tmpfs when there is one: /dev/shm, else $XDG_RUNTIME_DIR), removed afterwards and on Ctrl-C, SIGTERM or SIGHUP (one left by a SIGKILL is removed by the next edit), opens $SOPS_EDITOR or $EDITOR, and re-encrypts only when the content changed. Values you did not change keep their exact ciphertext, so the git diff shows only your edit. A file that does not exist yet is created with the recipients of the matching .sops.yaml rule (or --age).";
  static override examples = ["EDITOR=nano <%= config.bin %> edit prod/config.sops.yaml", "<%= config.bin %> edit --age age1… new-secrets.yaml"];
  static override args = { file: Args.string({ description: "the encrypted file (created when missing)", required: true }) };
  static override flags = { ...fileFlags, ...ignoreMacFlag, ...creationFlags };

  async run(): Promise<{ file: string; changed: boolean }> {
    const { args, flags } = await this.parse(Edit);
    const interactive = process.stdin.isTTY && process.stderr.isTTY;
    const r = await editFile(
      args.file,
      {
        inputType: formatFlag(flags["input-type"]),
        ignoreMac: flags["ignore-mac"],
        age: flags.age === undefined ? undefined : [flags.age],
        selection: selectionFrom(flags),
        macOnlyEncrypted: flags["mac-only-encrypted"] || undefined,
        shamirThreshold: flags["shamir-secret-sharing-threshold"],
        indent: flags.indent,
        onInvalid: interactive
          ? async (e) => {
              const rl = createInterface({ input: process.stdin, output: process.stderr });
              const answer = await rl.question(`${e.message}\nRe-open the editor to fix it? [Y/n] `);
              rl.close();
              return !/^n/i.test(answer.trim());
            }
          : undefined,
      },
      contextFrom(flags),
    );
    this.note(r.changed ? `saved ${args.file}` : `no changes: ${args.file} left as it was`);
    return { file: args.file, changed: r.changed };
  }
}
