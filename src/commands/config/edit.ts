import { Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags, targetOf, writeFlags } from "../../cli/meta-flags.js";
import { editConfig } from "../../config/edit.js";

export default class ConfigEdit extends BaseCommand {
  static override summary = "Edit the env's config layer (or --defaults) in $EDITOR; committed when it changed.";
  static override description = "The plaintext lives only in a private temporary file (0600 in a 0700 directory) that is removed afterwards.";
  static override examples = ["EDITOR=nano <%= config.bin %> config edit -p maintemplatev2 -e prod"];
  static override flags = { ...repoFlags, ...targetFlags, ...identityFlag, ...writeFlags, defaults: Flags.boolean({ description: "the project's defaults layer" }) };

  async run() {
    const { flags } = await this.parse(ConfigEdit);
    const t = await targetOf(flags, { envRequired: !flags.defaults });
    const r = await editConfig(await repoOf(flags), { project: t.project, env: flags.defaults ? undefined : t.env }, { identities: await identitiesOf(flags), author: flags.author, push: flags.push });
    this.note(r.commit ? `saved ${r.value.path} (${r.commit.slice(0, 12)})` : `no changes: ${r.value.path} left as it was`);
    return { path: r.value.path, changed: r.commit !== undefined, commit: r.commit ?? null };
  }
}
