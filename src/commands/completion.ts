import { basename } from "node:path";
import { Args } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { type CompletionCommand, completionScript, type Shell, SHELLS } from "../cli/completion.js";
import { BootMetaError, ExitCode } from "../errors.js";

export default class Completion extends BaseCommand {
  static override summary = "Print a shell completion script for bash, zsh or fish: commands, flags and flag values.";
  static override description = `Generated from this boot-meta's own command list, so print it again after an upgrade. SHELL defaults to the one $SHELL names.

bash: ${"`"}<%= config.bin %> completion bash > ~/.local/share/bash-completion/completions/<%= config.bin %>${"`"} (or source it from ~/.bashrc)
zsh:  ${"`"}<%= config.bin %> completion zsh > ~/.<%= config.bin %>-completion.zsh${"`"} and ${"`"}source ~/.<%= config.bin %>-completion.zsh${"`"} in ~/.zshrc
fish: ${"`"}<%= config.bin %> completion fish > ~/.config/fish/completions/<%= config.bin %>.fish${"`"}`;
  static override examples = ["<%= config.bin %> completion bash > ~/.local/share/bash-completion/completions/<%= config.bin %>", "<%= config.bin %> completion fish > ~/.config/fish/completions/<%= config.bin %>.fish"];
  static override args = { shell: Args.string({ description: "bash, zsh or fish (default: from $SHELL)", options: [...SHELLS] }) };

  async run(): Promise<{ shell: Shell; script: string }> {
    const { args } = await this.parse(Completion);
    const fromEnv = basename(process.env.SHELL ?? "");
    const shell = (args.shell ?? fromEnv) as Shell;
    if (!SHELLS.includes(shell)) {
      throw new BootMetaError("INVALID_ARGUMENT", `no shell given and $SHELL (${fromEnv || "unset"}) is not one of ${SHELLS.join(", ")}`, ExitCode.InvalidArgument, { suggestions: [`name it: \`${this.config.bin} completion bash\``] });
    }
    const commands: CompletionCommand[] = this.config.commands
      .filter((c) => !c.hidden)
      .map((c) => ({
        command: c.id.replaceAll(":", " "),
        summary: c.summary ?? c.description,
        flags: Object.values(c.flags)
          .filter((f) => !f.hidden)
          .map((f) => ({ name: f.name, char: f.char, summary: f.summary ?? f.description, takesValue: f.type === "option", options: f.type === "option" ? f.options : undefined })),
      }))
      .sort((a, b) => a.command.localeCompare(b.command));
    const topics = new Map(this.config.topics.map((t) => [t.name.replaceAll(":", " "), t.description ?? ""]));
    const script = completionScript(shell, this.config.bin, commands, topics);
    if (!this.jsonEnabled()) process.stdout.write(script);
    return { shell, script };
  }
}
