import { Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { type BuildInfo as Info, renderBuildInfo } from "../records/buildinfo.js";
import { parseCommitSpec, repoRefOf } from "../records/releases.js";

export default class BuildInfo extends BaseCommand {
  static override summary = "Print what a build embeds so a binary knows its repos and commits: JSON, a TS module, or Go -ldflags.";
  static override description = "--json prints the same object as --format json, as every command's --json does; it cannot be combined with --format ts or go.";
  static override examples = [
    `go build -ldflags "$(<%= config.bin %> buildinfo --format go --repo . --version 1.4.0)"`,
    "<%= config.bin %> buildinfo --format ts --repo . > src/buildinfo.ts",
    "<%= config.bin %> buildinfo --repo . --repo ../shared-lib --json",
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

  async run(): Promise<Info> {
    const { flags } = await this.parse(BuildInfo);
    if (this.jsonEnabled() && flags.format !== "json") throw new BootMetaError("INVALID_ARGUMENT", `--json and --format ${flags.format} ask for two outputs: give one of them`, ExitCode.InvalidArgument);
    const paths = flags.repo ?? (flags.commit ? [] : ["."]);
    const repos = [...(await Promise.all(paths.map((p) => repoRefOf(p, { allowDirty: flags["allow-dirty"] })))), ...(flags.commit ?? []).map(parseCommitSpec)];
    if (repos.length === 0) throw new BootMetaError("INVALID_ARGUMENT", "nothing to record: give --repo or --commit", ExitCode.InvalidArgument);
    const info: Info = { project: flags.project, version: flags.version, repos };
    if (!this.jsonEnabled()) process.stdout.write(renderBuildInfo(info, flags.format as "json" | "ts" | "go", flags["go-package"]));
    return info;
  }
}
