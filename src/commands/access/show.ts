import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import type { WriteArea, Writers } from "../../meta/policy.js";
import { type AccessMatrix, accessMatrix } from "../../meta/repo.js";

/** A part of the repository as a person reads it. */
function areaLabel(w: WriteArea): string {
  switch (w.area) {
    case "admin":
      return "rules, keys/, tokens/, subscriptions/";
    case "defaults":
      return `${w.project}: defaults, project.yaml`;
    case "env":
      return w.env === "*" ? `${w.project}: any other env` : `${w.project}: env ${w.env}`;
    case "channel":
      return w.channel === "*" ? `${w.project}: any other channel` : `${w.project}: channel ${w.channel}`;
    case "releases":
      return `${w.project ?? "(top level)"}: releases, binaries`;
    case "instances":
      return `${w.project}: instances, events`;
    case "approval":
      return `${w.principal}'s approval of admin change ${w.change.slice(0, 12)}`;
    case "channel-approval":
      return `${w.project}: ${w.principal}'s approval of ${w.release} for channel ${w.channel}`;
  }
}

const who = (w: Writers) => (w.anyone ? "anyone with a key" : w.principals.join(", ") || "no one");

export default class AccessShow extends BaseCommand {
  static override summary = "Show who can read and who may write what: principals × config files, from the rules.";
  static override description =
    "Two tables: who reads each governed file (from the read rules; ✓ reads, ? allowed but has no key yet), then who may change each part of the repository (from the write rules in .boot-meta.yaml, or their defaults), as `boot-meta verify` and readers with a trust root check it against each commit's signer.";
  static override examples = ["<%= config.bin %> access show", "<%= config.bin %> access show --json"];
  static override flags = { ...repoFlags };

  async run(): Promise<AccessMatrix> {
    const { flags } = await this.parse(AccessShow);
    const m = await accessMatrix(await repoOf(flags));
    const width = Math.max(4, ...m.files.map((f) => f.path.length));
    this.log(`${"file".padEnd(width)}  ${m.principals.join("  ")}`);
    for (const f of m.files) {
      const cells = m.principals.map((p) => (f.readers.includes(p) ? (f.missingKeys.includes(p) ? "?" : "✓") : "·").padEnd(p.length));
      this.log(`${f.path.padEnd(width)}  ${cells.join("  ")}`);
    }
    if (m.files.some((f) => f.missingKeys.length)) this.log("\n? = allowed by the rules but has no key in keys/ yet");
    const labels = m.writers.map((w) => areaLabel(w.where));
    const lw = Math.max(...labels.map((l) => l.length));
    const ww = Math.max(...m.writers.map((w) => who(w).length));
    this.log(`\n${"who may write".padEnd(lw)}  ${"writers".padEnd(ww)}  rule`);
    for (const [i, w] of m.writers.entries()) this.log(`${(labels[i] as string).padEnd(lw)}  ${who(w).padEnd(ww)}  ${w.rule}`);
    return m;
  }
}
