import { Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { renderBuildInfo } from "../records/buildinfo.js";
import { parseCommitSpec, repoRefOf } from "../records/releases.js";

export default class BuildInfo extends BaseCommand {
  static override summary = "Print what a build embeds so a binary knows its repos and commits: JSON, a TS module, or Go -ldflags.";
  static override examples = [
    `go build -ldflags "$(<%= config.bin %> buildinfo --format go --repo . --version 1.4.0)"`,
    "<%= config.bin %> buildinfo --format ts --repo . > src/buildinfo.ts",
  ];
  static override flags = {
    format: Flags.string({ options: ["json", "ts", "go"], default: "json", description: "output format" }),
    repo: Flags.string({ multiple: true, description: "local git repo to record (repeatable; default: the current directory)" }),
    commit: Flags.string({ multiple: true, description: "NAME=URL@HASH given explicitly" }),
    version: Flags.string({ description: "version to embed" }),
    project: Flags.string({ description: "project to embed" }),
    "go-package": Flags.string({ default: "main", description: "Go package whose variables -X sets" }),
    "allow-dirty": Flags.boolean({ description: "allow repos with uncommitted changes (marked dirty)" }),
  };
  static override enableJsonFlag = false;

  async run(): Promise<void> {
    const { flags } = await this.parse(BuildInfo);
    const paths = flags.repo ?? (flags.commit ? [] : ["."]);
    const repos = [...(await Promise.all(paths.map((p) => repoRefOf(p, { allowDirty: flags["allow-dirty"] })))), ...(flags.commit ?? []).map(parseCommitSpec)];
    if (repos.length === 0) throw new BootMetaError("INVALID_ARGUMENT", "nothing to record: give --repo or --commit", ExitCode.InvalidArgument);
    process.stdout.write(renderBuildInfo({ project: flags.project, version: flags.version, repos }, flags.format as "json" | "ts" | "go", flags["go-package"]));
  }
}
