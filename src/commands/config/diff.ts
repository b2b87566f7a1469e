import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags, targetOf } from "../../cli/meta-flags.js";
import type { DiffSide, EnvDiff } from "../../config/diff-envs.js";

/** A value as a person sees it: itself with --values, else only its type (and size). */
function shown(s: DiffSide, values: boolean): string {
  if (values) return JSON.stringify(s.value);
  if (s.type === "string") return `(string, ${s.size} characters)`;
  if (s.type === "list") return `(list of ${s.size})`;
  return `(${s.type})`;
}

export default class ConfigDiff extends BaseCommand {
  static override summary = "Compare the merged config of two envs of a project: which keys differ, which are in only one.";
  static override description =
    "Both envs are read at one commit, each merged as the loader merges it (defaults ← env ← developer). Values are masked (their type, and the length of a string) unless --values. A layer your identities do not open is listed with who may read it and left out of the comparison: the result then covers what you may see, and says so.";
  static override examples = ["<%= config.bin %> config diff -p shop stage prod", "<%= config.bin %> config diff -p shop dev dev/alice --values", "<%= config.bin %> config diff -p shop stage prod --json"];
  static override args = { a: Args.string({ description: "first env", required: true }), b: Args.string({ description: "second env", required: true }) };
  static override flags = {
    ...repoFlags,
    project: targetFlags.project,
    ...identityFlag,
    values: Flags.boolean({ description: "show the values themselves (they may be secrets: mind your terminal and logs)" }),
    at: Flags.string({ description: "read at this commit or ref (default: HEAD)" }),
  };

  async run(): Promise<EnvDiff> {
    const { args, flags } = await this.parse(ConfigDiff);
    const { diffEnvs } = await import("../../config/diff-envs.js");
    const t = await targetOf(flags);
    const d = await diffEnvs(await repoOf(flags), { project: t.project, envs: [args.a, args.b], identities: await identitiesOf(flags), at: flags.at, values: flags.values });
    const width = Math.max(0, ...d.keys.map((k) => k.key.length));
    for (const k of d.keys) {
      const sides = k.sides.map((s) => `${s.env}: ${shown(s, d.values)} [${s.layer}]`).join("   ");
      this.log(`${k.status === "differs" ? "differs" : "only   "}  ${k.key.padEnd(width)}  ${sides}`);
    }
    for (const l of d.layers.filter((x) => x.found && !x.readable)) {
      this.note(`not compared: ${l.path} (${l.env}'s ${l.name} layer) is encrypted to ${l.readers?.join(", ") || "no one known"}, and none of your identities opens it`);
    }
    const differs = d.keys.filter((k) => k.status === "differs").length;
    this.note(`# ${d.project} ${d.envs[0]} ↔ ${d.envs[1]} at ${d.commit.slice(0, 12)}: ${differs} differ, ${d.keys.length - differs} in one env only, ${d.same} the same${d.complete ? "" : " (of what you may read)"}${d.values ? "" : "; values masked (--values shows them)"}`);
    return d;
  }
}
