import { BootMetaError, ExitCode } from "../errors.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** What completion needs of a command, from the oclif manifest (no command module is loaded). */
export interface CompletionCommand {
  /** Its words, as typed: `config set`. */
  command: string;
  summary?: string;
  flags: { name: string; char?: string; summary?: string; takesValue: boolean; options?: readonly string[] }[];
}

/**
 * A completion script for SHELL: command and topic words, each command's flags (--long and -c),
 * and the values of flags that have a fixed set; file names everywhere else. Generated from the
 * command list, so it is as current as the boot-meta that printed it.
 */
export function completionScript(shell: Shell, bin: string, commands: CompletionCommand[], topics: Map<string, string> = new Map()): string {
  for (const c of commands) for (const w of [bin, ...c.command.split(" "), ...c.flags.flatMap((f) => [f.name, f.char ?? "", ...(f.options ?? [])])]) safeWord(w);
  return shell === "fish" ? fish(bin, commands, topics) : bash(bin, commands, shell === "zsh");
}

/** The words that may follow each prefix of a command ("" → the top-level words). */
function nextWords(commands: CompletionCommand[]): Map<string, Set<string>> {
  const next = new Map<string, Set<string>>();
  for (const { command } of commands) {
    const words = command.split(" ");
    for (let i = 0; i < words.length; i++) {
      const prefix = words.slice(0, i).join(" ");
      if (!next.has(prefix)) next.set(prefix, new Set());
      next.get(prefix)?.add(words[i] as string);
    }
  }
  return next;
}

function bash(bin: string, commands: CompletionCommand[], zsh: boolean): string {
  const fn = `_${bin.replace(/[^A-Za-z0-9]/g, "_")}`;
  const cases = (entries: [string, string][]) => [...entries.map(([k, v]) => `    "${k}") echo "${v}" ;;`), "    *) return 1 ;;"].join("\n");
  const words = cases([...nextWords(commands)].map(([k, v]) => [k, [...v].sort().join(" ")]));
  const flags = cases(commands.map((c) => [c.command, c.flags.flatMap((f) => [`--${f.name}`, ...(f.char ? [`-${f.char}`] : [])]).join(" ")]));
  const values = cases(commands.flatMap((c) => c.flags.filter((f) => f.takesValue).flatMap((f) => [`--${f.name}`, ...(f.char ? [`-${f.char}`] : [])].map((n): [string, string] => [`${c.command} ${n}`, (f.options ?? []).join(" ")]))));
  return `# ${bin} completion for ${zsh ? "zsh" : "bash"}, printed by \`${bin} completion ${zsh ? "zsh" : "bash"}\`.
${zsh ? "autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n" : ""}
# The words that may follow a topic (or "" for the top level).
${fn}_words() {
  case "$1" in
${words}
  esac
}

# A command's flags.
${fn}_flags() {
  case "$1" in
${flags}
  esac
}

# The values a flag takes ("" for any: file names are offered), or failure for a flag without one.
${fn}_values() {
  case "$1" in
${values}
  esac
}

${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmd="" next w i
  # The command typed so far: its leading words, as long as they name a topic or a command.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    next="\${cmd:+$cmd }$w"
    ${fn}_words "$next" >/dev/null || ${fn}_flags "$next" >/dev/null || break
    cmd="$next"
  done
  ((COMP_CWORD > 1)) && prev="\${COMP_WORDS[COMP_CWORD - 1]}"
  local values
  if [[ $prev == -* ]] && values="$(${fn}_values "$cmd $prev")"; then
    [[ -n $values ]] && COMPREPLY=($(compgen -W "$values" -- "$cur"))
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_flags "$cmd")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(${fn}_words "$cmd")" -- "$cur"))
  fi
  return 0
}

complete -o default -F ${fn} ${bin}
`;
}

function fish(bin: string, commands: CompletionCommand[], topics: Map<string, string>): string {
  const fn = `__${bin.replace(/[^A-Za-z0-9]/g, "_")}_at`;
  const q = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  const summaryOf = new Map<string, string>([...topics, ...commands.map((c): [string, string] => [c.command, c.summary ?? ""])]);
  const lines = [
    `# ${bin} completion for fish, printed by \`${bin} completion fish\`.`,
    "",
    "# True when the command typed so far (its leading words that name a topic or a command) is $argv[1].",
    `function ${fn}`,
    `    set -l known ${[...new Set([...nextWords(commands).keys(), ...commands.map((c) => c.command)])].filter(Boolean).sort().map(q).join(" ")}`,
    '    set -l cmd ""',
    "    for w in (commandline -opc)[2..-1]",
    '        set -l next (string trim -- "$cmd $w")',
    "        contains -- $next $known; or break",
    "        set cmd $next",
    "    end",
    '    test "$cmd" = "$argv[1]"',
    "end",
    "",
  ];
  for (const [prefix, words] of nextWords(commands)) {
    for (const w of [...words].sort()) {
      const full = prefix ? `${prefix} ${w}` : w;
      lines.push(`complete -c ${bin} -f -n ${q(`${fn} ${q(prefix)}`)} -a ${q(w)} -d ${q(firstSentence(summaryOf.get(full) ?? `${full} commands`))}`);
    }
  }
  for (const c of commands) {
    for (const f of c.flags) {
      const parts = [`complete -c ${bin} -n ${q(`${fn} ${q(c.command)}`)} -l ${f.name}`];
      if (f.char) parts.push(`-s ${f.char}`);
      if (f.takesValue) parts.push("-r");
      if (f.options?.length) parts.push(`-f -a ${q(f.options.join(" "))}`);
      if (f.summary) parts.push(`-d ${q(firstSentence(f.summary))}`);
      lines.push(parts.join(" "));
    }
  }
  return `${lines.join("\n")}\n`;
}

function firstSentence(s: string): string {
  const line = s.split("\n")[0] ?? "";
  const cut = line.search(/[.;]\s/);
  const sentence = (cut > 0 ? line.slice(0, cut) : line).replace(/\.$/, "");
  return sentence.length > 80 ? `${sentence.slice(0, 79)}…` : sentence;
}

/** Words go into the scripts between double quotes and in `case` patterns: only plain ones. */
function safeWord(w: string): void {
  if (!/^[A-Za-z0-9_./:@+-]*$/.test(w)) throw new BootMetaError("INTERNAL", `cannot write ${JSON.stringify(w)} into a completion script: a command, flag or value must be a plain word`, ExitCode.Internal);
}
