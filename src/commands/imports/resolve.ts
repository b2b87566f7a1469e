import { Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { formatIn } from "../../cli/records-output.js";
import { importsTargetFlags, importsTargetOf } from "../../cli/imports-flags.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { resolveSettings } from "../../config/bootstrap.js";
import { renderGo, renderNpm, resolveImports } from "../../records/imports.js";

export default class ImportsResolve extends BaseCommand {
  static override summary = "Print what a build of a project on a channel imports: go.mod lines, npm dependencies, or JSON.";
  static override description =
    "go: a `require MODULE VERSION` line per module (the commit's own version tag, else Go's pseudo-version: vX.Y.(Z+1)-0.yyyymmddhhmmss-abcdefabcdef after the highest tag vX.Y.Z before the commit, as the release recorded it, or vX.0.0-yyyymmddhhmmss-abcdefabcdef without one; an explicit --commit pin knows no tags and takes the latter) and a `replace` line where the repo is not at the module path's host. npm: a JSON object for \"dependencies\", each module as git+URL#SHA. json: the whole resolution (as --json). With a trust root (--trust-root, BOOT_META_TRUST_ROOT or the bootstrap file) pins, channels and releases changed by someone not allowed to are read at their last trusted version.";
  static override examples = [
    "<%= config.bin %> imports resolve -p shop --channel stable --format go >> go.mod",
    "<%= config.bin %> imports resolve -p shop --channel stable --format npm",
    "<%= config.bin %> imports resolve -p shop --channel stable --format json",
  ];
  static override flags = {
    ...repoFlags,
    ...importsTargetFlags,
    format: Flags.string({ description: "go: go.mod lines; npm: a dependencies object; json: the whole resolution", options: ["go", "npm", "json"], default: "json" }),
    at: Flags.string({ description: "resolve at this commit or ref of the meta repository" }),
    "trust-root": Flags.string({ description: "read only what allowed signers wrote, verified from this commit (default: BOOT_META_TRUST_ROOT, or trust-root in the bootstrap file)" }),
  };

  // --format json (the default) is --json by another name; go and npm print text.
  override jsonEnabled(): boolean {
    return super.jsonEnabled() || (formatIn(this.argv) ?? "json") === "json";
  }

  async run() {
    const { flags } = await this.parse(ImportsResolve);
    const { project, channel } = await importsTargetOf(flags);
    const s = await resolveSettings({ trustRoot: flags["trust-root"] });
    const res = await resolveImports(await repoOf(flags), project, channel, { at: flags.at, trustRoot: s.trustRoot });
    for (const u of res.untrusted ?? []) this.warning({ code: "IMPORT_UNVERIFIED", message: `${u.path} is read at its last trusted version, not as committed: ${u.message}` });
    if (!this.jsonEnabled()) {
      if (flags.format === "go") process.stdout.write(renderGo(res));
      else if (flags.format === "npm") process.stdout.write(`${JSON.stringify(renderNpm(res), null, 2)}\n`);
    }
    return res;
  }
}
