import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags, targetOf, writeFlags } from "../../cli/meta-flags.js";
import { readValue } from "../../cli/value-source.js";
import { setConfigValue } from "../../config/edit.js";
import { describeValue, parseCliValue, type TypedValue } from "../../config/value.js";

export default class ConfigSet extends BaseCommand {
  static override summary = "Set a value in the env's config layer (or --defaults), encrypted and committed.";
  static override description =
    "VALUE is typed as YAML types it: 8080 is an int, 1.5 a float, true a bool, null null, [1, 2] a list, {a: 1} a map, anything else a string, and the type stored is printed. A number that would not read back as the text given (1.10 would become 1.1, 0755 would become 493) is kept as a string, with a note; --string keeps any VALUE a string. A secret is best given on standard input (--stdin, or - as VALUE) or in a file (--value-file): an argument shows in `ps` and the shell history. A value read from either is stored as a string, exactly as read (printf, not echo, leaves no newline). Every other value keeps its ciphertext, so the commit's diff is one line.";
  static override examples = [
    "<%= config.bin %> config set database.url postgres://db/app -p maintemplatev2 -e prod",
    "<%= config.bin %> config set flags.new_checkout true -e dev/alice",
    "<%= config.bin %> config set tls.key --value-file key.pem -e prod",
    "printf %s \"$DB_PASSWORD\" | <%= config.bin %> config set database.password - -e prod",
    "<%= config.bin %> config set allowed_ports '[80, 443]' -e prod",
    "<%= config.bin %> config set app.version 1.10 -e dev   # kept as the string \"1.10\"",
  ];
  // ignoreStdin: oclif would otherwise fill a missing VALUE from whatever is piped in (trimmed).
  static override args = { key: Args.string({ description: "dotted key", required: true }), value: Args.string({ description: "the value; - reads it from standard input (or --stdin, --value-file)", ignoreStdin: true }) };
  static override flags = {
    ...repoFlags,
    ...targetFlags,
    ...identityFlag,
    ...writeFlags,
    string: Flags.boolean({ description: "store VALUE as a string whatever it looks like" }),
    "value-file": Flags.string({ description: "read the value from this file (stored as a string)", aliases: ["file"] }),
    stdin: Flags.boolean({ description: "read the value from standard input (stored as a string)" }),
    defaults: Flags.boolean({ description: "write the project's defaults layer instead of the env's" }),
  };

  async run() {
    const { args, flags } = await this.parse(ConfigSet);
    const given = await readValue({ arg: args.value, file: flags["value-file"], stdin: flags.stdin }, { file: "--value-file", stdin: "--stdin" });
    const typed: TypedValue = given.from === "argument" ? parseCliValue(given.text, { asString: flags.string }) : { value: given.text, type: "string", notes: [] };
    const t = await targetOf(flags, { envRequired: !flags.defaults });
    const r = await setConfigValue(await repoOf(flags), { project: t.project, env: flags.defaults ? undefined : t.env }, args.key, typed.value, { identities: await identitiesOf(flags), author: flags.author, push: flags.push });
    for (const n of typed.notes) this.note(`note: ${n}`);
    this.note(`set ${args.key} ${describeValue(typed)} in ${r.value.path}${r.commit ? ` (${r.commit.slice(0, 12)})` : " (unchanged)"}`);
    return { key: args.key, type: typed.type, notes: typed.notes, path: r.value.path, commit: r.commit ?? null, pushed: r.pushed };
  }
}
