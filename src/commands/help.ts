import { Args, Flags, loadHelpClass } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { type CommandContract, commandContract } from "../cli/contract.js";
import { commandNotFound } from "../cli/not-found.js";

type Listing = { command: string; summary: string | null }[];
export type HelpResult =
  | { kind: "root"; version: string; topics: { topic: string; description: string | null }[]; commands: Listing }
  | { kind: "topic"; topic: string; description: string | null; commands: Listing }
  | ({ kind: "command"; command: string; summary: string | null; description: string | null; examples: string[] } & CommandContract);

export default class Help extends BaseCommand {
  static override summary = "Show how to use boot-meta, a topic or a command (the same as --help).";
  static override description = "With --json, the command's arguments and flags (their names, kinds, accepted values and defaults), or a topic's commands, for scripts and shell integrations.";
  static override examples = ["<%= config.bin %> help config set", "<%= config.bin %> help channel", "<%= config.bin %> help decrypt --json"];
  static override strict = false;
  static override args = { command: Args.string({ description: "a command or topic, its words as you type them (config set)" }) };
  static override flags = { "nested-commands": Flags.boolean({ char: "n", description: "also list the commands of every topic" }) };

  async run(): Promise<HelpResult> {
    const { argv, flags } = await this.parse(Help);
    const words = argv as string[];
    const id = words.join(":");
    const command = id ? this.config.findCommand(id) : undefined;
    const topic = id && !command ? this.config.findTopic(id) : undefined;
    if (id && !command && !topic) throw commandNotFound(this.config, words, { help: true });
    if (!this.jsonEnabled()) {
      const HelpClass = await loadHelpClass(this.config);
      await new HelpClass(this.config, { all: flags["nested-commands"] }).showHelp(words);
    }
    // Spaced ids throughout: oclif's Help rewrites the ids of the commands it shows in place.
    const spaced = (s: string) => s.replaceAll(":", " ");
    const listing = (prefix: string): Listing =>
      this.config.commands
        .filter((c) => !c.hidden && spaced(c.id).startsWith(spaced(prefix)))
        .map((c) => ({ command: spaced(c.id), summary: c.summary ?? c.description?.split("\n")[0] ?? null }))
        .sort((a, b) => a.command.localeCompare(b.command));
    if (command) {
      const examples = (command.examples ?? []).map((e) => (typeof e === "string" ? e : e.command).replaceAll("<%= config.bin %>", this.config.bin));
      return { kind: "command", command: spaced(command.id), summary: command.summary ?? null, description: command.description ?? null, examples, ...commandContract(command, { descriptions: true }) };
    }
    if (topic) return { kind: "topic", topic: spaced(topic.name), description: topic.description ?? null, commands: listing(`${topic.name}:`) };
    const topics = this.config.topics.filter((t) => !t.hidden && !t.name.includes(":")).map((t) => ({ topic: t.name, description: t.description ?? null }));
    return { kind: "root", version: this.config.version, topics, commands: listing("") };
  }
}
