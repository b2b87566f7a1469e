import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { type FlagTypeName, parseContext, parseDefault } from "../../cli/flag-input.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags } from "../../cli/meta-flags.js";
import type { FlagValue } from "@openfeature/core";
import { loadFlags } from "../../flags/load.js";

export default class FlagsEval extends BaseCommand {
  static override summary = "Evaluate a flag as an app would: its value, variant, reason (STATIC, DEFAULT, TARGETING_MATCH, SPLIT, DISABLED, ERROR) and the commit.";
  static override description =
    "The context is filled from where the code runs — project, env, commit, and channel, release, releaseId and instance (the default targeting key) from the flags below, BOOT_META_CHANNEL/RELEASE/RELEASE_ID/INSTANCE or the bootstrap file — with --context-json (typed) and --context key=value (strings) on top. --type and --default stand for what an SDK asks: a flag of another type is ERROR/TYPE_MISMATCH with the default. A missing, invalid or disabled flag is an answer, not a failure: the command exits 0 and the reason and errorCode say what happened.";
  static override examples = [
    "<%= config.bin %> flags eval new_checkout -p shop -e prod --context email=ann@example.com",
    `<%= config.bin %> flags eval checkout_color -p shop -e prod --context-json '{"seats": 12}' --targeting-key user-42 --type string --default blue --json`,
    "<%= config.bin %> flags eval beta_banner -p shop -e prod --channel beta --release 1.4.0 --instance web-1",
  ];
  static override args = { flag: Args.string({ description: "the flag's key", required: true }) };
  static override flags = {
    ...repoFlags,
    ...targetFlags,
    ...identityFlag,
    context: Flags.string({ description: "a context attribute, key=value (a string; repeatable)", multiple: true, multipleNonGreedy: true }),
    "context-json": Flags.string({ description: "context attributes as a JSON object (typed values)" }),
    "targeting-key": Flags.string({ description: "the targeting key (default: the context's targetingKey, else the instance)" }),
    type: Flags.string({ description: "the type the caller asks for (default: the flag's own)", options: ["boolean", "string", "number", "object"] }),
    default: Flags.string({ description: "the caller's default value (as --type; without it, JSON when it parses as JSON, else a string)" }),
    channel: Flags.string({ description: "the channel the code runs on" }),
    release: Flags.string({ description: "the release version it runs" }),
    "release-id": Flags.string({ description: "the release id it runs" }),
    instance: Flags.string({ description: "the instance id (also the default targeting key)" }),
    at: Flags.string({ description: "read at this commit or ref" }),
  };

  async run() {
    const { args, flags } = await this.parse(FlagsEval);
    const context = parseContext(flags.context, flags["context-json"]);
    const type = flags.type as FlagTypeName | undefined;
    const defaultValue = parseDefault(flags.default, type) as FlagValue | undefined;
    const set = await loadFlags({
      repo: await repoOf(flags),
      project: flags.project,
      env: flags.env,
      identities: await identitiesOf(flags),
      onWarning: this.warning,
      at: flags.at,
      channel: flags.channel,
      release: flags.release,
      releaseId: flags["release-id"],
      instance: flags.instance,
    });
    const r = set.evaluate(args.flag, { type, defaultValue, context, targetingKey: flags["targeting-key"] });
    const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
    this.log(`value    ${show(r.value)}`);
    this.log(`variant  ${r.variant ?? "-"}`);
    this.log(`reason   ${r.reason}`);
    if (r.errorCode) this.log(`error    ${r.errorCode}${r.errorMessage ? `: ${r.errorMessage}` : ""}`);
    this.log(`commit   ${r.commit}`);
    return r;
  }
}
