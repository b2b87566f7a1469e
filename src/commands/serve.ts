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
    "The service keeps its own clone of the meta repository and holds no key: config is served as stored (ciphertext) and each client decrypts with its own key. It fetches at start, on verified push webhooks (POST /v1/hooks/github|gitea|gitlab) and every --poll. With --nats it publishes every change there (bootmeta.<project>.changes, bootmeta.<project>.channels.<channel>) and fetches when another replica announces a commit it lacks (bootmeta.head). Logs (JSON, pino) go to stderr; stdout gets one line saying where it listens. SIGINT or SIGTERM stops it gracefully: streams are told to reconnect elsewhere and requests in flight finish.";
  static override examples = [
    "<%= config.bin %> serve --meta ./meta --listen 127.0.0.1:8080",
    "BOOT_META_WEBHOOK_SECRET=… <%= config.bin %> serve --meta git@github.com:acme/meta.git --poll 30s",
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
    "cache-dir": Flags.string({ description: "where the service keeps its clone (default: $XDG_CACHE_HOME/boot-meta/serve)" }),
    "log-level": Flags.option({ options: ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, default: "info", description: "how much to log (to stderr)" })(),
  };

  async run(): Promise<{ url: string; commit: string | null }> {
    const { flags } = await this.parse(Serve);
    const { host, port } = parseListen(flags.listen);
    const pollMs = flags.poll === undefined ? undefined : parseDuration(flags.poll, "--poll");
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
    const server = await startServer({ meta: await repoOf(flags), host, port, pollMs, webhookSecret, cacheDir: flags["cache-dir"], ref: flags.ref, logger, nats });
    // The NATS URL as shown (credentials masked), never as given.
    logger.info({ url: server.url, commit: server.mirror.head, webhooks: webhookSecret !== undefined, pollMs, nats: server.nats?.shown }, "serving");
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({ url: server.url, commit: server.mirror.head ?? null })}\n`);
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
    return { url: server.url, commit: server.mirror.head ?? null };
  }
}
