import { readFile } from "node:fs/promises";
import { Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { repoOf } from "../cli/meta-flags.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { parseDuration } from "../server/duration.js";
import { parseListen } from "../server/listen.js";

export default class Serve extends BaseCommand {
  static override summary = "Serve the meta repository to followers: config as ciphertext, a change stream, webhooks.";
  static override description =
    "The service keeps its own clone of the meta repository and holds no key: config is served as stored (ciphertext) and each client decrypts with its own key. It fetches at start, on verified push webhooks (POST /v1/hooks/github|gitea|gitlab) and every --poll. With --nats it publishes every change there (bootmeta.<project>.changes, bootmeta.<project>.channels.<channel>) and fetches when another replica announces a commit it lacks (bootmeta.head). Each new commit is POSTed to the subscribers in subscriptions/<name>.yaml, signed as Standard Webhooks asks with secrets from the service's own config (--identity, --config-project, --config-env). Logs (JSON, pino) go to stderr; stdout gets one line saying where it listens. SIGINT or SIGTERM stops it gracefully: streams are told to reconnect elsewhere and requests in flight finish.";
  static override examples = [
    "<%= config.bin %> serve --meta ./meta --listen 127.0.0.1:8080",
    "BOOT_META_WEBHOOK_SECRET=… <%= config.bin %> serve --meta git@github.com:acme/meta.git --poll 30s",
    "<%= config.bin %> serve --meta ./meta --identity /etc/boot-meta/meta-server.key --config-project boot-meta-service --config-env prod",
    "BOOT_META_NATS_URL=nats://serve:…@nats.internal:4222 <%= config.bin %> serve --meta git@github.com:acme/meta.git --listen 0.0.0.0:8080",
    "curl -s 'http://127.0.0.1:8080/v1/projects/shop/config?env=prod'",
  ];
  static override flags = {
    meta: Flags.string({ description: "the meta repository, a path or a git URL (default: BOOT_META_REPO, the bootstrap file's repo, or the current directory)" }),
    listen: Flags.string({ description: "HOST:PORT to listen on (port 0: any free port)", default: "127.0.0.1:8080" }),
    "webhook-secret-file": Flags.string({ description: "a file holding the secret inbound push webhooks are signed with (default: BOOT_META_WEBHOOK_SECRET; neither: webhooks are off)" }),
    nats: Flags.string({
      description:
        "publish every change to NATS and keep replicas in step through it; instance liveness goes to its JetStream (nats-server -js): nats://[USER:PASSWORD@]HOST:PORT, comma-separated for a cluster (default: BOOT_META_NATS_URL)",
    }),
    poll: Flags.string({ description: "also fetch this often, e.g. 30s or 5m (the fallback when no webhook comes)" }),
    ref: Flags.string({ description: "the branch or tag to serve (default: the remote's default branch)" }),
    "report-interval": Flags.string({ description: "commit what followers reported (instance state changes, events) this often, one commit each time, e.g. 5s or 1m", default: "5s" }),
    author: Flags.string({ description: 'author of the commits the service makes for followers, "Name <email>"', default: "boot-meta serve <serve@boot-meta.invalid>" }),
    "cache-dir": Flags.string({ description: "where the service keeps its clone (default: $XDG_CACHE_HOME/boot-meta/serve)" }),
    "trust-root": Flags.string({ description: "serve only what allowed signers wrote, verified from this commit: a path changed by someone else is served at its last trusted version (default: BOOT_META_TRUST_ROOT)" }),
    identity: Flags.string({ description: "the service's own age identity file: it is then a principal like any other and opens only what the access rules give it (the signing secrets of outbound webhooks); without it the service holds no key" }),
    "config-project": Flags.string({ description: "the project of the service's own config, which holds the outbound webhooks' signing secrets under webhooks.secrets.<name> (needs --identity and --config-env)" }),
    "config-env": Flags.string({ description: "the env of the service's own config (with --config-project)" }),
    "log-level": Flags.option({ options: ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, default: "info", description: "how much to log (to stderr)" })(),
  };

  async run(): Promise<{ event: "stopped"; url: string; commit: string | null }> {
    const { flags } = await this.parse(Serve);
    const { host, port } = parseListen(flags.listen);
    const pollMs = flags.poll === undefined ? undefined : parseDuration(flags.poll, "--poll");
    const reportIntervalMs = parseDuration(flags["report-interval"], "--report-interval");
    let webhookSecret = process.env.BOOT_META_WEBHOOK_SECRET || undefined;
    if (flags["webhook-secret-file"]) {
      const text = await readFile(flags["webhook-secret-file"], "utf8").catch((e: NodeJS.ErrnoException) => {
        throw new BootMetaError("FILE_NOT_READABLE", `cannot read the webhook secret file ${flags["webhook-secret-file"]}: ${e.code ?? e.message}`, ExitCode.General);
      });
      webhookSecret = text.trim();
      if (webhookSecret === "") throw new BootMetaError("INVALID_ARGUMENT", `the webhook secret file ${flags["webhook-secret-file"]} is empty`, ExitCode.InvalidArgument);
    }
    const { pino } = await import("pino");
    const logger = pino({ level: flags["log-level"], base: { service: "boot-meta" } }, pino.destination({ fd: 2, sync: false }));
    const nats = flags.nats ?? (process.env.BOOT_META_NATS_URL || undefined);
    const { startServer } = await import("../server/serve.js");
    const server = await startServer({
      meta: await repoOf(flags),
      host,
      port,
      pollMs,
      webhookSecret,
      cacheDir: flags["cache-dir"],
      ref: flags.ref,
      logger,
      identityFile: flags.identity,
      configProject: flags["config-project"],
      configEnv: flags["config-env"],
      trustRoot: flags["trust-root"] ?? (process.env.BOOT_META_TRUST_ROOT || undefined),
      reportIntervalMs,
      author: flags.author,
      nats,
    });
    // The NATS URL as shown (credentials masked), never as given.
    logger.info({ url: server.url, commit: server.mirror.head, webhooks: webhookSecret !== undefined, pollMs, nats: server.nats?.shown }, "serving");
    // With --json: a line now, so a supervisor knows where it listens, and one more on exit.
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({ event: "listening", url: server.url, commit: server.mirror.head ?? null })}\n`);
    else this.log(`boot-meta serving ${server.mirror.source} at ${server.url} (commit ${server.mirror.head?.slice(0, 12)})`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        logger.info("shutting down");
        server.close().then(resolve, resolve);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    logger.flush();
    return { event: "stopped", url: server.url, commit: server.mirror.head ?? null };
  }
}
