import { Flags } from "@oclif/core";
import { type CaptainProgress, type CaptainResult, humanMs, runCaptain } from "../agent/captain.js";
import { BaseCommand } from "../cli/base.js";
import { resolveSettings } from "../config/bootstrap.js";
import { repoFlags, repoOf, targetOf } from "../cli/meta-flags.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { redactSecrets } from "../redact.js";
import { parseDuration } from "../server/duration.js";

const bad = (message: string) => new BootMetaError("INVALID_ARGUMENT", message, ExitCode.InvalidArgument);

function parseWaves(v: string): number[] {
  const parts = v.split(",").map((s) => s.trim().replace(/%$/, ""));
  if (parts.some((p) => !/^\d+$/.test(p))) throw bad(`--waves ${JSON.stringify(v)} is not a list of percentages like 1,10,50,100`);
  return parts.map(Number);
}

function parsePercent(v: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(v.trim());
  if (!m) throw bad(`${what} ${JSON.stringify(v)} is not a percentage like 99% or 100`);
  return Number(m[1]);
}

function line(p: CaptainProgress): string {
  switch (p.phase) {
    case "resume":
      return `resuming: the channel is at ${p.percent}% of the release (it ran ${p.from} before)`;
    case "promote":
      return `wave ${p.percent}%: promoted${p.commit ? ` (${p.commit.slice(0, 12)})` : ""}`;
    case "wait":
      return `wave ${p.percent}%: healthy ${p.healthy}/${p.instances} (needs ${p.needed}), waiting ${humanMs(p.waitedMs)}`;
    case "soak":
      return `wave ${p.percent}%: healthy ${p.healthy}/${p.instances}, soak ${humanMs(p.remainingMs)} left`;
    case "fetch-failed":
      return `warning: fetching the meta repository failed (${p.message}); reading the last fetched state`;
    case "rollback":
      return `rolling back to ${p.to}`;
    case "untrusted":
      return `warning: ${p.path} is read at its last trusted version, not as committed: ${p.message}`;
  }
}

export default class Captain extends BaseCommand {
  static override summary = "Roll a release out to a channel in waves, waiting for each wave to report healthy; roll back when it does not.";
  static override description =
    "Each wave is a compare-and-swap `channel promote --percent` (one commit: `channel history` is the audit log). The captain then reads the repository every --poll (fetching it when it has a remote) until at least --min-healthy of the instances the rollout gives the release report it, healthy, and then for --soak. When instances of the wave report it unhealthy or fail over to another release, so that --min-healthy can no longer be met, or the wave is not healthy within --wave-timeout, it rolls the channel back (`channel rollback --to` the release it ran before) and exits non-zero (CAPTAIN_ROLLOUT_FAILED) naming the instances. It keeps no state: run it again with the same arguments and it continues from the wave the channel is at, counting the soak from that promotion. If someone else changes the channel meanwhile it stops (CAPTAIN_CHANNEL_MOVED, exit 3) and leaves their change alone. The promotion gates of .boot-meta.yaml apply. Progress goes to stderr; --json prints one object at the end.";
  static override examples = [
    "<%= config.bin %> captain -p shop --channel stable --to 1.4.0 --waves 1,10,50,100 --soak 5m --push",
    "<%= config.bin %> captain -p shop --channel canary --to 1.4.0 --waves 10,100 --soak 30s --min-healthy 90% --wave-timeout 2m --poll 5s --push --json",
  ];
  static override flags = {
    ...repoFlags,
    project: Flags.string({ char: "p", description: "project (default: BOOT_META_PROJECT or the bootstrap file)" }),
    channel: Flags.string({ description: "the channel to roll out on", required: true }),
    to: Flags.string({ description: "the release to roll out (id or version)", required: true }),
    waves: Flags.string({ description: "rollout percentages, increasing, e.g. 1,10,50,100", default: "1,10,50,100" }),
    soak: Flags.string({ description: "how long each wave must stay healthy before the next, e.g. 30s, 5m, 1h (0: none)", default: "5m" }),
    "min-healthy": Flags.string({ description: "the share of a wave's instances that must report the release healthy, e.g. 99%", default: "100%" }),
    "wave-timeout": Flags.string({ description: "how long a wave may take to become healthy, e.g. 10m", default: "10m" }),
    poll: Flags.string({ description: "how often to read (and fetch) the meta repository, e.g. 5s", default: "5s" }),
    push: Flags.boolean({ description: "push each promotion (needed when the meta repository has a remote; default: git config boot-meta.push)", allowNo: true }),
    author: Flags.string({ description: 'commit author, "Name <email>" (default: git config)' }),
    "trust-root": Flags.string({ description: "act only on what allowed signers wrote, verified from this commit: an instance report or channel state someone else pushed is read at its last trusted version (default: BOOT_META_TRUST_ROOT or the bootstrap file's trust-root)" }),
  };

  async run(): Promise<CaptainResult> {
    const { flags } = await this.parse(Captain);
    const { project } = await targetOf(flags);
    const { trustRoot } = await resolveSettings({ trustRoot: flags["trust-root"] });
    const soakMs = flags.soak.trim() === "0" ? 0 : parseDuration(flags.soak, "--soak");
    const r = await runCaptain(await repoOf(flags), {
      project,
      channel: flags.channel,
      to: flags.to,
      waves: parseWaves(flags.waves),
      soakMs,
      minHealthy: parsePercent(flags["min-healthy"], "--min-healthy"),
      waveTimeoutMs: parseDuration(flags["wave-timeout"], "--wave-timeout"),
      pollMs: parseDuration(flags.poll, "--poll"),
      push: flags.push,
      author: flags.author,
      trustRoot,
      // Progress is for the person watching, on stderr also under --json (stdout has only the result).
      onProgress: (p) => process.stderr.write(`${redactSecrets(line(p))}\n`),
    });
    this.say(`${project}/${flags.channel}: ${r.to} on ${r.waves.at(-1)?.percent ?? 100}% of its instances${r.from ? ` (it ran ${r.from} before)` : ""}; waves ${r.waves.map((w) => `${w.percent}% (${w.healthy}/${w.instances} healthy)`).join(", ")}`);
    return r;
  }
}
