import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { listReleases } from "../../records/releases.js";

export default class ReleaseList extends BaseCommand {
  static override summary = "List a project's releases, newest first.";
  static override examples = ["<%= config.bin %> release list shop --limit 10", "<%= config.bin %> release list shop --offset 20 --json"];
  static override args = { project: Args.string({ description: "project", required: true }) };
  static override flags = { ...repoFlags, limit: Flags.integer({ description: "how many", default: 20 }), offset: Flags.integer({ description: "skip this many newest ones", default: 0 }) };

  async run() {
    const { args, flags } = await this.parse(ReleaseList);
    const r = await listReleases(await repoOf(flags), args.project, { limit: flags.limit, offset: flags.offset });
    for (const x of r.releases) this.log(`${x.id.padEnd(40)} ${x.version.padEnd(12)} ${x.repos.map((p) => `${p.name}@${p.commit.slice(0, 10)}`).join(" ")}`);
    this.note(`${r.releases.length} release(s) at ${r.commit.slice(0, 12)}${r.more ? `; older ones: --offset ${(flags.offset ?? 0) + r.releases.length}` : ""}`);
    return r;
  }
}
