import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { withProgress } from "../../cli/progress.js";
import { reportRefused } from "../../cli/rekey-report.js";
import type { AccessHistory, LostKeyApplied, LostKeyPlan } from "../../meta/access-history.js";

const day = (iso: string) => iso.slice(0, 10);

export default class AccessHistoryCommand extends BaseCommand {
  static override summary = "What a principal's keys could decrypt at any commit of history: each file and value, first and last commit.";
  static override description = `Walks history (from --since, or the first commit) to HEAD and lists every file one of NAME's keys could open at some commit — as the file's own sops metadata says, since that is what a key opens — with the first and last commit it could, whether the rules gave NAME that path or only the file's keys did, and every encrypted value path it held.

--plan prints what a lost key requires: \`keys remove NAME\`, a new data key for every file it could read that still exists, and the secrets to change by hand (old ciphertext stays in git history, readable with that key). --apply carries out the re-key part (in one or two commits) and prints what a human must still do.`;
  static override examples = ["<%= config.bin %> access history alice", "<%= config.bin %> access history alice --since 2026-01-01 --json", "<%= config.bin %> access history alice --plan", "<%= config.bin %> access history alice --apply"];
  static override args = { name: Args.string({ description: "principal", required: true }) };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    ...identityFlag,
    since: Flags.string({ description: "walk only commits made on or after this date (2026-01-31, or an ISO 8601 time)" }),
    plan: Flags.boolean({ description: "print the rotations a lost key of NAME requires", exclusive: ["apply"] }),
    apply: Flags.boolean({ description: "carry out the re-key part of the plan (keys remove, new data keys) and print what a human must still do", exclusive: ["plan"] }),
  };

  async run(): Promise<AccessHistory & { plan?: LostKeyPlan; applied?: LostKeyApplied }> {
    const { args, flags } = await this.parse(AccessHistoryCommand);
    const { accessHistory, applyLostKeyPlan, planLostKey } = await import("../../meta/access-history.js");
    const { readStateAt } = await import("../../meta/state.js");
    const repo = await repoOf(flags);
    const h = await withProgress(this, (update) => accessHistory(repo, args.name, { since: flags.since, onProgress: (done, total) => update(`access history: commit ${Math.min(done + 1, total)} of ${total}`) }));
    if (!flags.plan && !flags.apply) {
      this.say(`${args.name}'s key(s) could read ${h.files.length} file(s) in the ${h.commits} commit(s) walked${h.since ? ` since ${h.since}` : ""}:`);
      for (const f of h.files) {
        const tags = [f.readableNow ? "readable now" : f.exists ? "no longer encrypted to it" : "deleted", f.byRules ? "given by the rules" : "the file's keys only"];
        this.say(`  ${f.path}  ${f.first.commit.slice(0, 12)} (${day(f.first.date)}) → ${f.last.commit.slice(0, 12)} (${day(f.last.date)}); ${tags.join(", ")}`);
        for (const v of f.values) this.say(`    ${v.key}`);
      }
      return h;
    }
    const state = await readStateAt(repo);
    const hasKey = state.keys.has(args.name) || Object.values(state.config.groups).some((m) => m.includes(args.name));
    const plan = planLostKey(h, { hasKey });
    if (flags.plan) {
      this.say(`A lost key of ${args.name} requires:`);
      this.say(plan.removeKey ? `  1. boot-meta keys remove ${args.name}   (it leaves keys/ and every group; every file the rules let it read gets a new data key)` : `  1. (${args.name} has no key in keys/ and is in no group: nothing to remove)`);
      this.say(`  2. a new data key for each of the ${plan.rotate.length} file(s) it could read that still exist:`);
      for (const p of plan.rotate) this.say(`       ${p}`);
      this.say(`  3. by hand, change every secret it could read (${plan.changeByHand.reduce((n, f) => n + f.keys.length, 0)} value(s) in ${plan.changeByHand.length} file(s)):`);
      for (const f of plan.changeByHand) this.say(`       ${f.path}${f.exists ? "" : " (deleted since)"}: ${f.keys.join(", ")}`);
      this.say(`     ${plan.note}`);
      this.say(`\`boot-meta access history ${args.name} --apply\` does 1 and 2.`);
      return { ...h, plan };
    }
    const identities = await identitiesOf(flags);
    const applied = await withProgress(this, (onProgress) => applyLostKeyPlan(repo, plan, h.recipients, { identities, author: flags.author, push: flags.push, onProgress }));
    const rotated = [...(applied.removed?.rotated ?? []), ...applied.rotated];
    this.say(`${applied.removed ? `removed ${args.name}${applied.removed.commit ? ` (${applied.removed.commit.slice(0, 12)})` : ""}; ` : ""}${rotated.length} file(s) got a new data key${applied.commit ? ` (${applied.commit.slice(0, 12)})` : ""}`);
    if (applied.changeByHand.length) {
      this.say("Still to do by hand — change every secret it could read:");
      for (const f of applied.changeByHand) this.say(`  ${f.path}${f.exists ? "" : " (deleted since)"}: ${f.keys.join(", ")}`);
      this.say(`  ${applied.note}`);
    }
    reportRefused(`rotated ${rotated.length} file(s) for a lost key of ${args.name}`, { rewrapped: [], rotated, bound: [], refused: applied.refused }, applied.commit ?? applied.removed?.commit ?? undefined);
    return { ...h, plan, applied };
  }
}
