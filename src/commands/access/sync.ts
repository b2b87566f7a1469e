import { Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { withProgress } from "../../cli/progress.js";
import { reportRefused } from "../../cli/rekey-report.js";
import { syncAccess } from "../../meta/repo.js";

export default class AccessSync extends BaseCommand {
  static override summary = "Regenerate .sops.yaml and re-key every file to the recipients the rules give it.";
  static override description = `Commit your edit to .boot-meta.yaml or keys/ first, then run this. Files that lost a reader are rotated, files that gained one re-wrapped; files already right are left alone.

Every file it would change is opened first (its MAC checked) and must be bound to its path: a ciphertext copied or moved from another path is never re-keyed for this path's readers. Existing files with no binding are bound when their recipients are exactly what the rules give their path and their data key is their own. Anything else is left as it is, listed, and the command exits 1: re-create such a file, or review where it came from and pass --accept PATH (it is then bound here and rotated to the rules).`;
  static override examples = ["<%= config.bin %> access sync", "<%= config.bin %> access sync --accept shop/envs/dev/alice/config.sops.yaml"];
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    ...identityFlag,
    accept: Flags.string({ description: "a governed file you reviewed: bind it to its path and rotate it to the rules, whatever it was written for (repeatable)", multiple: true }),
  };

  async run() {
    const { flags } = await this.parse(AccessSync);
    const repo = await repoOf(flags);
    const identities = await identitiesOf(flags);
    const r = await withProgress(this, (onProgress) => syncAccess(repo, { identities, accept: flags.accept, author: flags.author, push: flags.push, onProgress }));
    const summary = `${r.value.rotated.length} rotated, ${r.value.rewrapped.length} re-wrapped, ${r.value.bound.length} bound`;
    reportRefused(`access sync: ${summary}`, r.value, r.commit);
    this.note(`${summary}${r.commit ? ` (${r.commit.slice(0, 12)})` : ": nothing to do"}`);
    return { ...r.value, commit: r.commit ?? null };
  }
}
