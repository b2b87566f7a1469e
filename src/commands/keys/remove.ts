import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { withProgress } from "../../cli/progress.js";
import { reportRefused } from "../../cli/rekey-report.js";
import { removeKey } from "../../meta/repo.js";

export default class KeysRemove extends BaseCommand {
  static override summary = "Remove a principal; every file it could read gets a new data key.";
  static override description = "Removes keys/NAME.txt and NAME from every group, and rotates every file NAME could read: a new data key, every value re-encrypted, so NAME can open nothing written from now on (old versions stay in git history: rotate the secrets themselves if NAME must lose those too). One commit; safe to run again after an interruption. A file that cannot be rotated (nobody here opens it, it is damaged) does not stop the revocation: NAME still leaves keys/ and the rules, every other file is rotated, and those files are listed with the reason (exit 1). A removal that would leave a file with no reader is refused whole.";
  static override examples = ["<%= config.bin %> keys remove bob"];
  static override args = { name: Args.string({ description: "principal", required: true }) };
  static override flags = { ...repoFlags, ...writeFlags, ...identityFlag };

  async run() {
    const { args, flags } = await this.parse(KeysRemove);
    const repo = await repoOf(flags);
    const identities = await identitiesOf(flags);
    const r = await withProgress(this, (onProgress) => removeKey(repo, args.name, { identities, author: flags.author, push: flags.push, onProgress }));
    reportRefused(`removed ${args.name} and rotated ${r.value.rotated.length} file(s)`, r.value, r.commit);
    this.note(`removed ${args.name}; ${r.value.rotated.length} file(s) rotated`);
    return { ...r.value, commit: r.commit ?? null, pushed: r.pushed };
  }
}
