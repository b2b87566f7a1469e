import { Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { identitiesOf, identityFlag, repoFlags } from "../cli/meta-flags.js";
import { runAgent, type AgentRunResult } from "../agent/run.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { redactSecrets } from "../redact.js";

export default class Agent extends BaseCommand {
  static override summary = "Follow a channel: download, verify, install and restart the release this instance is to run, rolling back when it is not healthy.";
  static override description = `One step ("reconcile"): find the release the channel gives this instance (its rollout bucket) and the binary for this os/arch → if PATH already holds it (PATH.boot-meta.json says so), nothing → else download it beside PATH, check its size, SHA-256 and a signature by a key in keys/signers/, install it atomically (the old binary kept as PATH.previous), restart (--restart CMD through the shell, or --supervise: the agent runs PATH [ARGS after --] itself), check --health (a URL answering 2xx, or a command exiting 0) within --health-timeout, and roll back to PATH.previous when it is not healthy; a release that failed is not tried again until the channel gives another. Each step reports the instance (release, status, health, last error) to the service (--server, token scope instances:report) or as a commit to the meta repository.

--once does one step and exits: 0 when up to date or installed healthy, non-zero with the error when it refused a binary, rolled back, or could not reach its source. Without --once the agent runs until SIGTERM/SIGINT: a step, then a wait for a change (the service's change stream with --server, NATS with --nats) or the poll period (--interval, each wait ±25%). When its source cannot be reached it keeps running what it runs and tries again with a backoff.

From a meta repository (--meta DIR|URL, or BOOT_META_REPO / the bootstrap file) with a trust root (--trust-root, BOOT_META_TRUST_ROOT or the bootstrap file's trust-root:), every record is read as signed history trusts it: a channel promotion pushed by someone not allowed to make it is not followed (a warning says so). With --server, the service decides (GET /v1/projects/P/channels/C/binary?instance=ID) and /v1/signers gives the signing keys. Sealed binaries (their URLs encrypted) are opened with the agent's own identity.`;
  static override usage = "agent -p PROJECT --channel C --instance ID --install PATH [--restart CMD | --supervise [-- ARGS...]] [--health URL|CMD] [--server URL | --meta DIR|URL] [--once] [FLAGS]";
  static override examples = [
    "<%= config.bin %> agent --project shop --channel stable --instance web-1 --install /srv/shop/shop --restart 'systemctl restart shop' --health http://127.0.0.1:8080/health --server https://meta.internal --once",
    "<%= config.bin %> agent --project shop --channel stable --instance web-1 --install /srv/shop/shop --supervise --health http://127.0.0.1:8080/health --meta git@github.com:org/meta.git -- --port 8080",
  ];
  // Everything after -- is the supervised binary's (see commandLine).
  static override strict = false;
  static override flags = {
    ...repoFlags,
    ...identityFlag,
    project: Flags.string({ char: "p", description: "project (default: BOOT_META_PROJECT or the bootstrap file)" }),
    channel: Flags.string({ description: "the channel to follow (default: the bootstrap file's channel)" }),
    instance: Flags.string({ description: "this instance's id: decides its rollout bucket, names its record (default: the bootstrap file's instance)" }),
    install: Flags.string({ required: true, description: "the path of the binary the agent keeps up to date (PATH.previous and PATH.boot-meta.json go beside it)" }),
    restart: Flags.string({ description: "shell command that restarts the server after an install or a rollback (it gets BOOT_META_RELEASE)" }),
    supervise: Flags.boolean({ description: "run PATH itself (with the arguments after --), restart it on an upgrade, respawn it when it dies" }),
    health: Flags.string({ description: "health check after a restart: an http(s) URL that must answer 2xx, or a shell command that must exit 0" }),
    "health-timeout": Flags.string({ description: "seconds the health check has to pass before a rollback", default: "30" }),
    server: Flags.string({ description: "the config service to follow instead of a meta repository (no git access needed)" }),
    token: Flags.string({ description: "bearer token for --server with scope instances:report (default: BOOT_META_TOKEN)" }),
    nats: Flags.string({ description: "NATS URL: a promotion on the channel wakes the agent at once" }),
    "trust-root": Flags.string({ description: "act only on what signed history from this commit trusts (default: BOOT_META_TRUST_ROOT or the bootstrap file)" }),
    os: Flags.string({ description: "this machine's os as `binary add --os` names it (default: this machine: linux, darwin, windows)" }),
    arch: Flags.string({ description: "this machine's arch as `binary add --arch` names it (default: this machine: amd64, arm64)" }),
    interval: Flags.string({ description: "seconds between polls (each wait jittered ±25%)", default: "60" }),
    once: Flags.boolean({ description: "one step, then exit (for cron and tests)" }),
  };

  async run(): Promise<AgentRunResult> {
    const { flags } = await this.parse(Agent);
    const args = this.commandLine();
    if (args.length && !flags.supervise) throw bad("the arguments after -- are for the supervised binary: add --supervise, or leave them out");
    if (flags.supervise && flags.restart !== undefined) throw bad("--supervise restarts the binary itself: give --restart or --supervise, not both");
    if (flags.supervise && flags.once) throw bad("--supervise keeps the binary running, so it cannot exit after one step: leave out --once");
    if (flags.server !== undefined && flags.meta !== undefined) throw bad("follow the service (--server) or a meta repository (--meta), not both");
    if (flags.server !== undefined && flags["trust-root"] !== undefined) throw bad("--trust-root applies to a meta repository the agent reads itself; the service applies its own (`serve --trust-root`)");
    const say = (line: string) => process.stderr.write(`boot-meta agent: ${redactSecrets(line)}\n`);
    const json = this.jsonEnabled();
    return runAgent({
      meta: flags.meta,
      server: flags.server,
      token: flags.token ?? (process.env.BOOT_META_TOKEN || undefined),
      nats: flags.nats ?? (process.env.BOOT_META_NATS_URL || undefined),
      project: flags.project,
      channel: flags.channel,
      instance: flags.instance,
      install: flags.install,
      restart: flags.restart,
      supervise: flags.supervise ? args : undefined,
      health: flags.health,
      healthTimeout: seconds("--health-timeout", flags["health-timeout"]),
      interval: seconds("--interval", flags.interval),
      trustRoot: flags["trust-root"],
      os: flags.os,
      arch: flags.arch,
      once: flags.once,
      identities: () => identitiesOf(flags),
      say,
      // Under --json, every step of the loop is a line of its own; --once returns its one step.
      onStep: json && !flags.once ? (s) => process.stdout.write(`${JSON.stringify(s)}\n`) : undefined,
    });
  }

  /** JSON Lines: the loop's steps and its last line ("stopped") are one line each, whatever reads them. */
  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json)}\n`);
  }

  /** The words after the first --, as given. */
  private commandLine(): string[] {
    const at = this.argv.indexOf("--");
    return at === -1 ? [] : this.argv.slice(at + 1);
  }
}

function seconds(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw bad(`${flag} ${JSON.stringify(v)} is not a number of seconds from more than 0 to 86400 (like 30 or 0.5)`);
  return n;
}

function bad(message: string): BootMetaError {
  return new BootMetaError("INVALID_ARGUMENT", message, ExitCode.InvalidArgument, { suggestions: ["see `boot-meta agent --help`"] });
}
