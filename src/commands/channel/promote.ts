import { Args, Flags } from "@oclif/core";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { resolveSettings } from "../../config/bootstrap.js";
import { RecordCommand, recordFormatFlag } from "../../cli/records-output.js";
import { promoteChannel } from "../../records/channels.js";

export default class ChannelPromote extends RecordCommand {
  static override summary = "Point a channel at a release; with --expect, only if it still points where you think.";
  static override description =
    "--expect CURRENT makes it a compare-and-swap: when another promotion got there first, it fails (exit 3) naming what the channel points at now.\n\n--percent P rolls the release out to P% of the channel's instances: ranked by a hash of the channel and their id, the first ceil(P × N / 100) of them (at least one) get it, the others stay on the channel's last release that all of them had. The ranking does not depend on the release, so promoting the same release again with a larger --percent widens the rollout without moving any instance back, and a later release goes to the same instances first. Without --percent (or at 100) the release goes to every instance.";
  static override examples = [
    "<%= config.bin %> channel promote shop stable 1.4.0 --expect 20261120T090000Z-1.3.2",
    "<%= config.bin %> channel promote shop canary 1.4.0 --percent 10 --push",
    "<%= config.bin %> channel promote shop canary 1.4.0 --percent 50 --push   # widen the same rollout",
  ];
  static override args = { project: Args.string({ required: true, description: "project" }), channel: Args.string({ required: true, description: "channel name" }), release: Args.string({ required: true, description: "release id or version" }) };
  static override flags = { ...repoFlags, ...writeFlags, ...recordFormatFlag, expect: Flags.string({ description: 'the release id the channel must point at now ("" for a new channel)' }), percent: Flags.integer({ description: "roll out to this % of the channel's instances (1-100)" }),
    "trust-root": Flags.string({ description: "judge the promotion gates of .boot-meta.yaml on what allowed signers wrote, verified from this commit: an approval its approver did not sign counts for nothing (default: BOOT_META_TRUST_ROOT or the bootstrap file's trust-root)" }),
  };

  async run() {
    const { args, flags } = await this.parse(ChannelPromote);
    const { trustRoot } = await resolveSettings({ trustRoot: flags["trust-root"] });
    const r = await promoteChannel(await repoOf(flags), args.project, args.channel, args.release, { expect: flags.expect, percent: flags.percent, author: flags.author, push: flags.push, trustRoot });
    const ro = r.value.channel.rollout;
    if (!r.value.changed) this.note(`${args.project}/${args.channel} already has ${r.value.channel.releaseId}${ro ? ` at ${ro.percent}%` : ""}; nothing written`);
    else this.note(`${args.project}/${args.channel}: ${r.value.from ?? "(new)"} → ${r.value.channel.releaseId}${ro ? ` at ${ro.percent}% (the others on ${ro.previousReleaseId})` : ""}`);
    this.writeProto(flags, "Channel", r.value.channel);
    return { ...r.value, commit: r.commit ?? null, pushed: r.pushed };
  }
}
