import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, progress, repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { syncAccess } from "../../meta/repo.js";

export default class AccessSync extends BaseCommand {
  static override summary = "Regenerate .sops.yaml and re-key every file to the recipients the rules give it.";
  static override description = "Run after editing .boot-meta.yaml. Files that lost a reader are rotated, files that gained one re-wrapped; files already right are left alone.";
  static override examples = ["<%= config.bin %> access sync"];
  static override flags = { ...repoFlags, ...writeFlags, ...identityFlag };

  async run() {
    const { flags } = await this.parse(AccessSync);
    const r = await syncAccess(await repoOf(flags), { identities: await identitiesOf(flags), author: flags.author, push: flags.push, onProgress: progress(this) });
    this.note(`${r.value.rotated.length} rotated, ${r.value.rewrapped.length} re-wrapped${r.commit ? ` (${r.commit.slice(0, 12)})` : ": nothing to do"}`);
    return { ...r.value, commit: r.commit ?? null };
  }
}
