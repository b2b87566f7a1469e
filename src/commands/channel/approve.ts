import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { approveChannel } from "../../records/gates.js";

export default class ChannelApprove extends BaseCommand {
  static override summary = "Approve a release for a channel, as one of those the promotion gates count.";
  static override description =
    "When .boot-meta.yaml gates a channel on approvals (promotion: PROJECT: CHANNEL: { approvals: N }), `channel promote` (and the captain) refuse the release until N different principals have approved it for that channel. This commits PROJECT/approvals/CHANNEL/RELEASE-ID/NAME.json, which only NAME may write: sign the commit with your key (git config commit.gpgSign), as `boot-meta verify` and readers with a trust root check. Who may approve: the gate's approvers, or by default those who may write the channel.";
  static override examples = ["<%= config.bin %> channel approve shop stable 1.4.0 --as alice --push", "<%= config.bin %> channel approve shop stable 20261125T101500Z-1.4.0 --as alice --json"];
  static override args = {
    project: Args.string({ required: true, description: "project" }),
    channel: Args.string({ required: true, description: "the channel the release is approved for" }),
    release: Args.string({ required: true, description: "release id or version" }),
  };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    as: Flags.string({ description: "your principal name (keys/<NAME>.txt): the approval is yours, and must be signed with your key", required: true }),
  };

  async run(): Promise<{ path: string; releaseId: string; approvedBy: string; changed: boolean; commit: string | null; pushed: boolean }> {
    const { args, flags } = await this.parse(ChannelApprove);
    const r = await approveChannel(await repoOf(flags), args.project, args.channel, args.release, { as: flags.as, author: flags.author, push: flags.push });
    this.say(r.value.changed ? `${flags.as} approved ${r.value.releaseId} for ${args.project}/${args.channel} (${r.value.path}${r.commit ? `, ${r.commit.slice(0, 12)}` : ""})` : `${flags.as} had already approved ${r.value.releaseId} for ${args.project}/${args.channel}; nothing written`);
    return { ...r.value, commit: r.commit ?? null, pushed: r.pushed };
  }
}
