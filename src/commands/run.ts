import { constants } from "node:os";
import { Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags } from "../cli/meta-flags.js";
import { type RunResult, runWithConfig } from "../cli/run.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { redactSecrets } from "../redact.js";
import { parseDuration } from "../server/duration.js";

export default class Run extends BaseCommand {
  static override summary = "Run a command (a server not written in Node) with the merged config of a project and env as environment variables.";
  static override description = `The command comes after --, and runs without a shell. Its environment is boot-meta's own, without the variables that hold or point at your age identity (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, SOPS_AGE_SSH_PRIVATE_KEY_FILE, SOPS_AGE_SSH_PRIVATE_KEY_CMD), with the config's variables over it (the config wins over a variable of the same name), and BOOT_META_COMMIT, BOOT_META_PROJECT and BOOT_META_ENV saying what it runs.

How the config becomes variables:
  - a nested key's path is joined with _, upper-cased, and every character outside [A-Z0-9_] becomes _: database.url → DATABASE_URL, feature-x.on → FEATURE_X_ON (what envconfig reads, and viper with SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_")));
  - strings as they are, numbers and booleans as their JSON text (8080, 1.5, true); null sets nothing (the merge reads it as "no such key");
  - maps are flattened key by key; lists are joined with commas ([80, 443] → 80,443), which envconfig, go-envconfig and caarlos0/env split into slices — a list holding maps, lists, nulls or strings with commas is refused unless --lists json, which writes every list as JSON text;
  - the flags: section is left out (flag definitions are for an evaluator: ask boot-meta serve over OFREP), unless --include-flags, which flattens it as FLAGS_…;
  - --prefix goes before every name (not before BOOT_META_*).
Refused before anything starts, naming keys and never values: two keys that become one name, or a key that would become BOOT_META_COMMIT/PROJECT/ENV (RUN_ENV_COLLISION); a name that starts with a digit (RUN_ENV_INVALID_NAME: use --prefix); a value with a NUL byte (RUN_ENV_UNREPRESENTABLE).

SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGUSR2 sent to boot-meta are passed on to the command (SIGINT, SIGQUIT and SIGHUP not while on a terminal, which sends them to the command itself); stdin and stderr are inherited; boot-meta exits with the command's exit code, or 128 + the signal's number when a signal ended it.

With --watch, the config is loaded again every --watch-interval; when the command's variables change, it is stopped (SIGTERM, then SIGKILL after --grace) and started again with the new ones, or, with --signal, sent that signal and kept (its environment cannot change: for servers that read their config again themselves). A config that does not load, decrypt or flatten leaves the running command as it is and says why on stderr. When the command ends on its own, boot-meta ends with it (restarting a crashed server is its supervisor's job).

With --json, the command's standard output goes to standard error, and once it ended boot-meta prints {exitCode, commit, project, env, variables (names only), restarts}, or {"error": …} when nothing could be started.`;
  static override usage = "run -p PROJECT -e ENV [--meta DIR|URL] [--identity FILE] [--prefix APP_] [--watch [--signal SIG]] [FLAGS] -- CMD [ARGS...]";
  static override examples = [
    "<%= config.bin %> run -p shop -e prod -- ./shop-server --listen :8080",
    "<%= config.bin %> run -p shop -e prod --prefix SHOP_ --watch -- ./shop-server",
    "<%= config.bin %> run -p shop -e prod --watch --signal SIGHUP --watch-interval 30s -- ./shop-server",
    "<%= config.bin %> run -p shop -e dev/alice --identity ~/.config/sops/age/keys.txt -- env",
  ];
  // Everything after -- is the command's; oclif's argv is not used (see commandLine).
  static override strict = false;
  static override flags = {
    ...repoFlags,
    ...targetFlags,
    ...identityFlag,
    prefix: Flags.string({ description: "put this before every variable's name, e.g. APP_ (letters, digits and _, not a digit first)" }),
    lists: Flags.string({ description: "how lists are written: comma (80,443 — what envconfig splits) or json ([80,443])", options: ["comma", "json"], default: "comma" }),
    "include-flags": Flags.boolean({ description: "also pass the flags: section, as FLAGS_… variables (the flag definitions, not evaluated values)" }),
    watch: Flags.boolean({ description: "follow the config: restart the command (or send it --signal) when its variables change" }),
    "watch-interval": Flags.string({ description: "with --watch, how often to load the config again, e.g. 30s or 1m (default 10s)" }),
    signal: Flags.string({ description: "with --watch, send this signal (e.g. SIGHUP) on a change instead of restarting the command" }),
    grace: Flags.string({ description: "with --watch, how long a restart waits for the command to exit after SIGTERM before SIGKILL (default 10s)" }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parse(Run);
    const [command, ...args] = this.commandLine();
    if (flags.prefix !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(flags.prefix)) throw bad(`--prefix ${JSON.stringify(flags.prefix)} is not the start of an environment variable name: use letters, digits and _, not a digit first`);
    if (!flags.watch && (flags.signal ?? flags["watch-interval"] ?? flags.grace) !== undefined) throw bad("--signal, --watch-interval and --grace apply to --watch: add --watch, or leave them out");
    const signal = flags.signal === undefined ? undefined : signalOf(flags.signal);
    const result = await runWithConfig({
      load: { repo: await repoOf(flags), project: flags.project, env: flags.env, identities: await identitiesOf(flags) },
      command: command as string,
      args,
      flatten: { prefix: flags.prefix, lists: flags.lists as "comma" | "json", includeFlags: flags["include-flags"] },
      stdout: this.jsonEnabled() ? "stderr" : "inherit",
      watch: flags.watch ? { intervalMs: parseDuration(flags["watch-interval"] ?? "10s", "--watch-interval"), graceMs: parseDuration(flags.grace ?? "10s", "--grace"), signal } : undefined,
      // Said under --json too: stderr is free, and a reload that failed must be seen.
      note: (line) => process.stderr.write(`boot-meta run: ${redactSecrets(line)}\n`),
    });
    // Not this.exit(): that is an error to oclif, which would print it under --json after the answer.
    process.exitCode = result.exitCode;
    return result;
  }

  /** The words after the first --, as given (oclif's argv reorders words that equal a flag's value). */
  private commandLine(): string[] {
    const at = this.argv.indexOf("--");
    const words = at === -1 ? [] : this.argv.slice(at + 1);
    if (!words.length) throw bad(at === -1 ? "no command to run: put it after --, e.g. boot-meta run -p shop -e prod -- ./server" : "no command after --");
    return words;
  }
}

function bad(message: string): BootMetaError {
  return new BootMetaError("INVALID_ARGUMENT", message, ExitCode.InvalidArgument, { suggestions: ["see `boot-meta run --help`"] });
}

function signalOf(name: string): NodeJS.Signals {
  const sig = (name.toUpperCase().startsWith("SIG") ? name.toUpperCase() : `SIG${name.toUpperCase()}`) as NodeJS.Signals;
  if (!(sig in constants.signals) || sig === "SIGKILL" || sig === "SIGSTOP") throw bad(`--signal ${JSON.stringify(name)} is not a signal a process can handle: give one like SIGHUP or SIGUSR2`);
  return sig;
}
