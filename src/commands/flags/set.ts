import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { parseJsonArg, readDefinitionFile } from "../../cli/flag-input.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags, targetOf, writeFlags } from "../../cli/meta-flags.js";
import { parseCliValue } from "../../config/value.js";
import { BootMetaError, ExitCode } from "../../errors.js";
import { isShorthand } from "../../flags/layers.js";
import { setFlag } from "../../flags/write.js";
import { toPlain } from "../../sops/tree.js";

export default class FlagsSet extends BaseCommand {
  static override summary = "Define a flag in the env's config layer (or --defaults): validated against flagd's schema, encrypted and committed.";
  static override description =
    "The flag's entry in that layer becomes what is given: a flagd flag (--file, --json-value, or --variants with --default-variant and optionally --targeting), or a shorthand VALUE — true/false (variants on/off) or any other value (one variant, default). Layers merge per flag: variants by name, every other field replaced, so a developer folder can pin a flag (`flags set new_checkout true -e dev/alice`) without copying its rules. A flag flagd's schema refuses is not written (FLAGS_INVALID, exit 49). Values and rules are encrypted like every config value; flag keys and variant names are keys and stay readable.";
  static override examples = [
    "<%= config.bin %> flags set new_checkout true -p shop -e dev/alice",
    "<%= config.bin %> flags set checkout_color --file checkout_color.json -p shop --defaults",
    `<%= config.bin %> flags set beta_banner --variants '{"on": true, "off": false}' --default-variant off --targeting '{"if": [{"===": [{"var": "channel"}, "beta"]}, "on", null]}' -p shop -e prod`,
  ];
  static override args = {
    flag: Args.string({ description: "the flag's key", required: true }),
    value: Args.string({ description: "a shorthand: true, false, a string or a number (typed as `config set` types it)" }),
  };
  static override flags = {
    ...repoFlags,
    ...targetFlags,
    ...identityFlag,
    ...writeFlags,
    file: Flags.string({ description: "a flagd flag definition in a JSON or YAML file" }),
    "json-value": Flags.string({ description: "a flagd flag definition as JSON" }),
    variants: Flags.string({ description: "the variants as a JSON object (name → value)" }),
    "default-variant": Flags.string({ description: "with --variants: the variant served when no rule applies" }),
    targeting: Flags.string({ description: "with --variants: the targeting rule (flagd's JSONLogic) as JSON" }),
    state: Flags.string({ description: "with --variants: ENABLED (the default) or DISABLED", options: ["ENABLED", "DISABLED"] }),
    defaults: Flags.boolean({ description: "write the project's defaults layer instead of the env's" }),
  };

  async run() {
    const { args, flags } = await this.parse(FlagsSet);
    const sources = [args.value !== undefined, flags.file !== undefined, flags["json-value"] !== undefined, flags.variants !== undefined].filter(Boolean).length;
    if (sources !== 1) {
      throw new BootMetaError("INVALID_ARGUMENT", "give the flag exactly once: a shorthand VALUE, --file, --json-value, or --variants (with --default-variant)", ExitCode.InvalidArgument, {
        suggestions: ["e.g. `boot-meta flags set new_checkout true`, or `--json-value '{\"state\": \"ENABLED\", \"variants\": {\"on\": true, \"off\": false}, \"defaultVariant\": \"off\"}'`"],
      });
    }
    if (flags.variants === undefined && (flags["default-variant"] !== undefined || flags.targeting !== undefined || flags.state !== undefined)) {
      throw new BootMetaError("INVALID_ARGUMENT", "--default-variant, --targeting and --state go with --variants", ExitCode.InvalidArgument);
    }
    let value: unknown;
    if (args.value !== undefined) value = toPlain(parseCliValue(args.value).value);
    else if (flags.file !== undefined) value = await readDefinitionFile(flags.file);
    else if (flags["json-value"] !== undefined) value = parseJsonArg(flags["json-value"], "--json-value");
    else {
      value = {
        state: flags.state ?? "ENABLED",
        variants: parseJsonArg(flags.variants as string, "--variants"),
        ...(flags["default-variant"] !== undefined ? { defaultVariant: flags["default-variant"] } : {}),
        ...(flags.targeting !== undefined ? { targeting: parseJsonArg(flags.targeting, "--targeting") } : {}),
      };
    }
    const t = await targetOf(flags, { envRequired: !flags.defaults });
    const r = await setFlag(await repoOf(flags), { project: t.project, env: flags.defaults ? undefined : t.env }, args.flag, value, { identities: await identitiesOf(flags), author: flags.author, push: flags.push });
    const shorthand = isShorthand(value);
    this.note(`set flag ${args.flag}${shorthand ? " (shorthand)" : ""} in ${r.value.path}${r.commit ? ` (${r.commit.slice(0, 12)})` : " (unchanged)"}`);
    return { key: args.flag, shorthand, path: r.value.path, commit: r.commit ?? null, pushed: r.pushed };
  }
}
