import { createInterface } from "node:readline/promises";
import { Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags, targetOf, writeFlags } from "../../cli/meta-flags.js";
import { editConfig } from "../../config/edit.js";

export default class ConfigEdit extends BaseCommand {
  static override summary = "Edit the env's config layer (or --defaults) in $EDITOR; committed when it changed.";
  static override description =
    "The plaintext lives only in a private scratch file (0600 in a 0700 directory, on a tmpfs when there is one) that is removed afterwards, also on Ctrl-C, SIGTERM and SIGHUP. Other writers are not blocked while the editor is open: if the layer changed meanwhile, your edit is not saved (exit 3, CONFIG_EDIT_CONFLICT); on a terminal you are offered to re-open the editor on your text, to save it over the new version.";
  static override examples = ["EDITOR=nano <%= config.bin %> config edit -p maintemplatev2 -e prod"];
  static override flags = { ...repoFlags, ...targetFlags, ...identityFlag, ...writeFlags, defaults: Flags.boolean({ description: "the project's defaults layer" }) };

  async run() {
    const { flags } = await this.parse(ConfigEdit);
    const t = await targetOf(flags, { envRequired: !flags.defaults });
    const interactive = process.stdin.isTTY && process.stderr.isTTY;
    const ask = async (question: string) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(`${question} [Y/n] `);
      rl.close();
      return !/^n/i.test(answer.trim());
    };
    const r = await editConfig(
      await repoOf(flags),
      { project: t.project, env: flags.defaults ? undefined : t.env },
      {
        identities: await identitiesOf(flags),
        author: flags.author,
        push: flags.push,
        onInvalid: interactive ? (e) => ask(`${e.message}\nRe-open the editor to fix it?`) : undefined,
        onConflict: interactive
          ? (e) => ask(`${e.message}\nRe-open the editor on your text? Saving it replaces the new version, so fold in what changed meanwhile.`)
          : undefined,
      },
    );
    this.note(r.commit ? `saved ${r.value.path} (${r.commit.slice(0, 12)})` : `no changes: ${r.value.path} left as it was`);
    return { path: r.value.path, changed: r.commit !== undefined, commit: r.commit ?? null };
  }
}
