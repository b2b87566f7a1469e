import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { listInstances } from "../../records/instances.js";

export default class InstanceList extends BaseCommand {
  static override summary = "The fleet of a project, grouped by the release each instance runs.";
  static override examples = ["<%= config.bin %> instance list shop"];
  static override args = { project: Args.string({ required: true, description: "project" }) };
  static override flags = { ...repoFlags };

  async run() {
    const { args, flags } = await this.parse(InstanceList);
    const r = await listInstances(await repoOf(flags), args.project);
    if (Object.keys(r.byRelease).length === 0) this.note(`no instance of ${args.project} has reported yet (\`boot-meta instance report\`)`);
    for (const [rel, list] of Object.entries(r.byRelease)) {
      this.log(`${rel}  (${list.length})`);
      for (const i of list) {
        const lag = r.lagging.find((l) => l.id === i.id);
        this.log(`  ${i.id.padEnd(24)} ${(i.channel ?? "").padEnd(12)} ${(i.status ?? "").padEnd(12)} since ${i.changedAt}${lag ? `  → its channel gives it ${lag.wants}` : ""}`);
      }
    }
    if (r.lagging.length) this.note(`${r.lagging.length} instance(s) not on the release their channel gives them`);
    return r;
  }
}
