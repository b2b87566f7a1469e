import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { importsTargetFlags, importsTargetOf } from "../../cli/imports-flags.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { progressLine } from "../../cli/progress.js";
import { describePin, parsePinTarget, setImport } from "../../records/imports.js";

export default class ImportsSet extends BaseCommand {
  static override summary = "Pin which version of a module a project builds against on one of its channels.";
  static override description =
    "Exactly one of: --follow PROJECT:CHANNEL (the release that channel points at when the pins are resolved: a promotion there moves it), --release PROJECT:RELEASE (that release, by id or version), --commit URL@SHA (an explicit commit; its time is read from the repository, or given with --commit-time). The pin is resolved before it is written, so a channel, release or module that does not exist is refused now. Stored in <project>/imports/<channel>.json.";
  static override examples = [
    "<%= config.bin %> imports set -p shop --channel stable github.com/org/shared-lib --follow shared-lib:stable",
    "<%= config.bin %> imports set -p shop --channel stable @org/ui --release ui:2.3.0",
    "<%= config.bin %> imports set -p shop --channel dev github.com/org/x --commit https://github.com/org/x@3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c",
  ];
  static override args = { module: Args.string({ description: "the module: go.mod's module path or package.json's name", required: true }) };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    ...importsTargetFlags,
    follow: Flags.string({ description: "follow this project's channel: PROJECT:CHANNEL" }),
    release: Flags.string({ description: "a fixed release: PROJECT:RELEASE (id or version)" }),
    commit: Flags.string({ description: "an explicit commit: URL@SHA (the full hash)" }),
    "commit-time": Flags.string({ description: "with --commit: the commit's committer date (RFC 3339), when its repository cannot be read from here" }),
  };

  async run() {
    const { args, flags } = await this.parse(ImportsSet);
    const { project, channel } = await importsTargetOf(flags);
    const target = parsePinTarget({ follow: flags.follow, release: flags.release, commit: flags.commit, commitTime: flags["commit-time"] });
    // The one slow part: a shallow fetch of an explicit commit from its repository.
    const progress = progressLine(this);
    const r = await setImport(await repoOf(flags), project, channel, args.module, target, { author: flags.author, push: flags.push, onProgress: (line) => progress.update(line) }).finally(() => progress.done());
    this.log(`${project}/${channel} ${args.module} ${describePin(r.value.pin)}${r.value.changed ? "" : " (already so: nothing written)"}`);
    this.note(`  resolves now to ${r.value.resolved.commit}${r.value.resolved.releaseId ? ` (release ${r.value.resolved.releaseId})` : ""}${r.value.resolved.goVersion ? `, Go ${r.value.resolved.goVersion}` : ""}`);
    return { ...r.value, commit: r.commit ?? null };
  }
}
