import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { createProject } from "../../meta/repo.js";

export default class ProjectCreate extends BaseCommand {
  static override summary = "Create a project (one or more path segments, e.g. main/maintemplatev2).";
  static override examples = ["<%= config.bin %> project create maintemplatev2", "<%= config.bin %> project create main/maintemplatev2 --source-repo https://github.com/org/main"];
  static override args = { name: Args.string({ description: "project name", required: true }) };
  static override flags = { ...repoFlags, ...writeFlags, "source-repo": Flags.string({ description: "a repo the project is built from (repeatable)", multiple: true }) };

  async run(): Promise<{ project: string; commit: string | null }> {
    const { args, flags } = await this.parse(ProjectCreate);
    const r = await createProject(await repoOf(flags), args.name, { repos: flags["source-repo"], author: flags.author, push: flags.push });
    this.note(`created project ${args.name}`);
    return { project: args.name, commit: r.commit ?? null };
  }
}
