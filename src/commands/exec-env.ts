import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { contextFrom, fileFlags, formatFlag, ignoreMacFlag } from "../cli/sops-flags.js";
import { runChild } from "../cli/child.js";
import { execEnvironment } from "../sops/files.js";

export default class ExecEnv extends BaseCommand {
  static override summary = "Run a command with a file's values in its environment (nothing written to disk).";
  static override description =
    "The top-level keys of the first document become environment variables; nested values are an error. The command runs in /bin/sh and its exit code is passed on (128 + the signal's number when a signal ended it); SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGUSR2 sent to boot-meta are passed on to it (SIGINT, SIGQUIT and SIGHUP not while on a terminal, which sends them to the command itself). Unlike sops, the variables that point at your age identity (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, SOPS_AGE_SSH_PRIVATE_KEY_FILE, SOPS_AGE_SSH_PRIVATE_KEY_CMD) are not passed on unless --keep-key-env.\n\nWith --json, the command's standard output goes to standard error, so that standard output carries only boot-meta's answer, printed once the command ended: {\"file\", \"exitCode\"}, or {\"error\": …} when the command could not be started (the file did not open, say). The exit code is the command's either way.";
  static override examples = [`<%= config.bin %> exec-env secrets.env 'echo "$DATABASE_URL" | wc -c'`, "<%= config.bin %> exec-env --pristine app.env ./server", "<%= config.bin %> exec-env --json secrets.env ./migrate.sh   # {\"exitCode\": …} on stdout, the script's output on stderr"];
  static override args = {
    file: Args.string({ description: "the encrypted file", required: true }),
    command: Args.string({ description: "the command line to run", required: true }),
  };
  static override flags = {
    ...fileFlags,
    ...ignoreMacFlag,
    pristine: Flags.boolean({ description: "give the command only the file's variables, none of the current environment" }),
    "keep-key-env": Flags.boolean({ description: "also pass on SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and the SSH key variables (sops passes them; boot-meta does not by default)" }),
  };

  async run(): Promise<{ file: string; exitCode: number }> {
    const { args, flags } = await this.parse(ExecEnv);
    const env = await execEnvironment(args.file, { inputType: formatFlag(flags["input-type"]), pristine: flags.pristine, ignoreMac: flags["ignore-mac"], keepKeyEnv: flags["keep-key-env"] }, contextFrom(flags));
    const code = await runChild({ command: "/bin/sh", args: ["-c", args.command], env, stdout: this.jsonEnabled() ? "stderr" : "inherit" });
    // Not this.exit(): that is an error to oclif, which would print it under --json after the answer.
    process.exitCode = code;
    return { file: args.file, exitCode: code };
  }
}
