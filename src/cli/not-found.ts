import type { Hook, Interfaces } from "@oclif/core";
import { BootMetaError, ExitCode } from "../errors.js";
import { printError } from "./base.js";
import { closestCommands } from "./suggest.js";

/**
 * oclif's `command_not_found` hook: a mistyped command names the nearest ones ("did you mean
 * config set?") and exits 2, as a usage error; under --json as `{ "error": … }`. Loaded only
 * when no command matched, so it costs the commands that do nothing.
 */
const hook: Hook.CommandNotFound = async function (opts) {
  const typed = opts.id.split(":");
  const json = (opts.argv ?? []).includes("--json");
  printError(commandNotFound(opts.config, typed), json);
  this.exit(ExitCode.InvalidArgument);
};
export default hook;

/** The error for WORDS that name no command or topic, with the nearest commands as suggestions (as `help` commands for `help`). */
export function commandNotFound(config: Interfaces.Config, words: string[], o: { help?: boolean } = {}): BootMetaError {
  const visible = config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases]);
  const spaced = (id: string) => id.replaceAll(":", " ");
  const near = closestCommands(words, visible.map(spaced));
  const topic = config.findTopic(words[0] ?? "") ? words[0] : undefined;
  const typed = words.join(" ");
  const rest = (c: string) => (words.length > c.split(" ").length ? ` ${words.slice(c.split(" ").length).join(" ")}` : "");
  const suggestions = [
    ...near.map((c) => (o.help ? `${config.bin} help ${c}` : `${config.bin} ${c}${rest(c)}`)),
    topic ? `\`${config.bin} help ${topic}\` lists the ${topic} commands` : `\`${config.bin} help\` lists the commands`,
  ];
  return new BootMetaError("COMMAND_NOT_FOUND", `${o.help ? "help: " : ""}command ${typed} not found${near.length ? `; did you mean ${near.join(" or ")}?` : ""}`, ExitCode.InvalidArgument, { data: { command: typed, nearest: near }, suggestions });
}
