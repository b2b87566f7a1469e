import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { createEnv } from "../../meta/repo.js";

export default class EnvCreate extends BaseCommand {
  static override summary = "Create an environment of a project, with an empty config encrypted to its readers.";
  static override examples = ["<%= config.bin %> env create maintemplatev2 prod", "<%= config.bin %> env create maintemplatev2 dev/alice"];
  static override args = {
    project: Args.string({ description: "project", required: true }),
    env: Args.string({ description: "environment: dev, stage, prod, dev/<developer>, …", required: true }),
  };
  static override flags = { ...repoFlags, ...writeFlags };

  async run(): Promise<{ project: string; env: string; path: string; commit: string | null }> {
    const { args, flags } = await this.parse(EnvCreate);
    const r = await createEnv(await repoOf(flags), args.project, args.env, { author: flags.author, push: flags.push });
    this.note(`created ${r.value.path}`);
    return { ...r.value, commit: r.commit ?? null };
  }
}
