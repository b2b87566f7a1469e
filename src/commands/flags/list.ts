import { Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags } from "../../cli/meta-flags.js";
import { loadFlags } from "../../flags/load.js";

export default class FlagsList extends BaseCommand {
  static override summary = "List the flags of a project and env, merged per flag (defaults ← env ← developer).";
  static override description = "Each flag with its state, type, default variant, whether it has targeting, the layers that define it, and — for a flag flagd's schema refuses — why (it then evaluates to ERROR alone; the others are unaffected).";
  static override examples = ["<%= config.bin %> flags list -p shop -e dev/alice", "<%= config.bin %> flags list -p shop -e prod --json"];
  static override flags = { ...repoFlags, ...targetFlags, ...identityFlag, at: Flags.string({ description: "read at this commit or ref" }) };

  async run() {
    const { flags } = await this.parse(FlagsList);
    const set = await loadFlags({ repo: await repoOf(flags), project: flags.project, env: flags.env, identities: await identitiesOf(flags), onWarning: this.warning, at: flags.at });
    const rows = set.keys().map((key) => {
      const e = set.get(key);
      const d = (e?.definition ?? {}) as { state?: unknown; defaultVariant?: unknown; variants?: unknown; targeting?: unknown };
      return {
        key,
        state: typeof d.state === "string" ? d.state : null,
        type: e?.type ?? null,
        defaultVariant: typeof d.defaultVariant === "string" ? d.defaultVariant : null,
        variants: typeof d.variants === "object" && d.variants !== null ? Object.keys(d.variants) : [],
        targeting: typeof d.targeting === "object" && d.targeting !== null && Object.keys(d.targeting).length > 0,
        layers: e?.layers ?? [],
        valid: (e?.errors.length ?? 0) === 0,
        errors: e?.errors ?? [],
      };
    });
    for (const r of rows) {
      const cols = [r.key, r.state ?? "-", r.type ?? "-", r.defaultVariant ?? "-", r.targeting ? "targeting" : "static", r.layers.join("←")];
      this.log(r.valid ? cols.join("\t") : `${cols.join("\t")}\tINVALID: ${r.errors.join("; ")}`);
    }
    for (const p of set.problems) this.note(`warning: ${p}`);
    this.note(`# ${set.project} ${set.env} at ${set.commit.slice(0, 12)}: ${rows.length} flag${rows.length === 1 ? "" : "s"}`);
    return { project: set.project, env: set.env, commit: set.commit, flags: rows, problems: set.problems };
  }
}
