import type { Command } from "@oclif/core";

/** A flag as scripts depend on it: its name, kind and accepted values (no descriptions, which may change freely). */
export interface FlagContract {
  type: "boolean" | "option";
  description?: string;
  char?: string;
  required?: true;
  multiple?: true;
  options?: string[];
  default?: unknown;
  aliases?: string[];
  allowNo?: true;
  hidden?: true;
}

export interface CommandContract {
  args: { name: string; description?: string; required?: true; options?: string[]; default?: unknown }[];
  flags: Record<string, FlagContract>;
  /** false: takes any number of arguments. */
  strict?: false;
  aliases?: string[];
}

/**
 * The part of a command that scripts depend on, from its oclif manifest entry: what test/contract
 * holds checked in (so a change to it shows in review) and `help --json` prints.
 */
export function commandContract(c: Command.Cached, opt: { descriptions?: boolean } = {}): CommandContract {
  const flags: Record<string, FlagContract> = {};
  for (const [name, f] of Object.entries(c.flags).sort(([a], [b]) => a.localeCompare(b))) {
    const o = f as Command.Flag.Cached & { options?: string[]; multiple?: boolean; allowNo?: boolean; default?: unknown };
    flags[name] = {
      type: o.type,
      ...(opt.descriptions && o.description ? { description: o.description } : {}),
      ...(o.char ? { char: o.char } : {}),
      ...(o.required ? { required: true as const } : {}),
      ...(o.multiple ? { multiple: true as const } : {}),
      ...(o.options ? { options: [...o.options] } : {}),
      ...(o.default !== undefined && typeof o.default !== "function" ? { default: o.default } : {}),
      ...(o.aliases?.length ? { aliases: [...o.aliases] } : {}),
      ...(o.allowNo ? { allowNo: true as const } : {}),
      ...(o.hidden ? { hidden: true as const } : {}),
    };
  }
  const args = Object.values(c.args).map((a) => ({
    name: a.name,
    ...(opt.descriptions && a.description ? { description: a.description } : {}),
    ...(a.required ? { required: true as const } : {}),
    ...(a.options ? { options: [...a.options] } : {}),
    ...(a.default !== undefined && typeof a.default !== "function" ? { default: a.default } : {}),
  }));
  return { args, flags, ...(c.strict === false ? { strict: false as const } : {}), ...(c.aliases.length ? { aliases: [...c.aliases] } : {}) };
}
