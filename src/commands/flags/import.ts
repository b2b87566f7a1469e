import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { readDefinitionFile } from "../../cli/flag-input.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags, targetOf, writeFlags } from "../../cli/meta-flags.js";
import { importFlags } from "../../flags/write.js";

export default class FlagsImport extends BaseCommand {
  static override summary = "Import a flagd flag-definition file into the env's config layer (or --defaults), in one commit.";
  static override description =
    "FILE is what flagd reads (JSON or YAML): {\"flags\": {…}, \"$evaluators\": {…}}. Each flag it names replaces that flag's entry in the layer, shared evaluators merge by name, and flags the file does not name stay as they are. Every flag and evaluator is checked against flagd's schema: the file is taken as it is, and a flag the schema refuses is listed (it evaluates to its error, PARSE_ERROR, until fixed, the others unaffected); with --strict any invalid flag refuses the whole file (FLAGS_INVALID, exit 49, listing each, nothing written). Encrypted and committed like every config value.";
  static override examples = ["<%= config.bin %> flags import flags.flagd.json -p shop -e prod", "<%= config.bin %> flags import flags.yaml -p shop --defaults --push"];
  static override args = { file: Args.string({ description: "the flagd flag-definition file", required: true }) };
  static override flags = {
    ...repoFlags,
    ...targetFlags,
    ...identityFlag,
    ...writeFlags,
    defaults: Flags.boolean({ description: "write the project's defaults layer instead of the env's" }),
    strict: Flags.boolean({ description: "refuse the whole file when any flag or evaluator in it is invalid" }),
  };

  async run(): Promise<{ path: string; flags: string[]; invalid: { flag: string; errors: string[] }[]; evaluators: string[]; commit: string | null; pushed: boolean }> {
    const { args, flags } = await this.parse(FlagsImport);
    const doc = await readDefinitionFile(args.file);
    const t = await targetOf(flags, { envRequired: !flags.defaults });
    const r = await importFlags(await repoOf(flags), { project: t.project, env: flags.defaults ? undefined : t.env }, doc, { identities: await identitiesOf(flags), author: flags.author, push: flags.push, strict: flags.strict });
    this.note(`imported ${r.value.flags.length} flag(s)${r.value.evaluators.length ? ` and ${r.value.evaluators.length} evaluator(s)` : ""} into ${r.value.path}${r.commit ? ` (${r.commit.slice(0, 12)})` : " (unchanged)"}`);
    for (const i of r.value.invalid) this.warning({ code: "FLAGS_INVALID", message: `flag ${i.flag} is not a valid flagd flag and evaluates to its error until fixed: ${i.errors.join("; ")}` });
    return { path: r.value.path, flags: r.value.flags, invalid: r.value.invalid, evaluators: r.value.evaluators, commit: r.commit ?? null, pushed: r.pushed };
  }
}
