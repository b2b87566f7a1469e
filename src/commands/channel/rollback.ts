import { Args, Flags } from "@oclif/core";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { RecordCommand, recordFormatFlag } from "../../cli/records-output.js";
import { resolveSettings } from "../../config/bootstrap.js";
import { rollbackChannel } from "../../records/channels.js";

export default class ChannelRollback extends RecordCommand {
  static override summary = "Step a channel back one point in its history: that point's release and rollout (recorded as a new state).";
  static override description =
    "Each rollback steps one further back (1.2 → 1.1 → 1.0), restoring the release and the rollout percentage the channel had at that point; a promotion after a rollback starts again from there, like an undo. --to RELEASE jumps to the newest earlier point at which the channel pointed at RELEASE; a release the channel never had is refused (use `channel promote` for that). --expect CURRENT makes it a compare-and-swap, as for promote; and if the channel changes while its history is read, nothing is written (exit 3).";
  static override examples = [
    "<%= config.bin %> channel rollback shop stable --push",
    "<%= config.bin %> channel rollback shop stable --expect 20261125T101500Z-1.4.0",
    "<%= config.bin %> channel rollback shop stable --to 1.3.2",
  ];
  static override args = { project: Args.string({ required: true, description: "project" }), channel: Args.string({ required: true, description: "channel" }) };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    ...recordFormatFlag,
    to: Flags.string({ description: "jump to the newest earlier point where the channel pointed at this release (id or version)" }),
    expect: Flags.string({ description: "the release id the channel must point at now" }),
    "trust-root": Flags.string({ description: "go back only to points allowed signers wrote, verified from this commit: a state a non-writer pushed is never restored (default: BOOT_META_TRUST_ROOT or the bootstrap file's trust-root)" }),
  };

  async run() {
    const { args, flags } = await this.parse(ChannelRollback);
    const { trustRoot } = await resolveSettings({ trustRoot: flags["trust-root"] });
    const r = await rollbackChannel(await repoOf(flags), args.project, args.channel, { to: flags.to, expect: flags.expect, trustRoot, author: flags.author, push: flags.push });
    const ro = r.value.channel.rollout;
    this.note(`${args.project}/${args.channel}: ${r.value.from} → ${r.value.channel.releaseId}${ro ? ` at ${ro.percent}% (the others on ${ro.previousReleaseId})` : ""}, as at ${r.value.restored.commit.slice(0, 12)}`);
    this.writeProto(flags, "Channel", r.value.channel);
    return { ...r.value, commit: r.commit ?? null, pushed: r.pushed };
  }
}
