import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { repoFlags, repoOf, writeFlags } from "../cli/meta-flags.js";
import { approveAdminChange } from "../meta/approvals.js";

export default class Approve extends BaseCommand {
  static override summary = "Approve, as one more admin, a change to the rules or keys/ that another admin proposed.";
  static override description =
    "When .boot-meta.yaml asks for a quorum of admins (write: quorum: admin: N), a change to the admin area (.boot-meta.yaml, keys/, tokens/, subscriptions/) needs N different admins: the one who signs it, and others who approved exactly that change before it. This commits approvals/admin/<change>/<NAME>.json on the current branch, signed with your key (git config commit.gpgSign); the proposed commit is then rebased on top of the approvals. The change is named by its content, so a rebase keeps its approvals.";
  static override examples = ["<%= config.bin %> approve origin/proposal --as bob --push", "<%= config.bin %> approve 4b73f7a --as bob --json"];
  static override args = { commit: Args.string({ description: "the commit that makes the change (a branch name works)", required: true }) };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    as: Flags.string({ description: "your principal name (keys/<NAME>.txt): the approval is yours, and must be signed with your key", required: true }),
  };

  async run(): Promise<{ change: string; commit: string; paths: string[]; path: string; approval: string | null }> {
    const { args, flags } = await this.parse(Approve);
    const r = await approveAdminChange(await repoOf(flags), args.commit, { as: flags.as, author: flags.author, push: flags.push });
    this.say(`${flags.as} approved admin change ${r.value.change.slice(0, 12)} (${r.value.paths.join(", ")}) in ${r.value.path}${r.commit ? ` (${r.commit.slice(0, 12)})` : ""}`);
    return { ...r.value, approval: r.commit ?? null };
  }
}
