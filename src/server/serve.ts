import type { AddressInfo } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { BootMetaError, ExitCode } from "../errors.js";
import { validateName } from "../meta/layout.js";
import { identitiesFromFiles } from "../sops/identities.js";
import { createApp } from "./app.js";
import { type LivenessStore, MemoryLiveness } from "./liveness.js";
import { Mirror } from "./mirror.js";
import type { OutboundOptions } from "./outbound.js";
import { KvLiveness } from "./nats-liveness.js";
import { NatsLink, parseNatsUrl } from "./nats.js";

export interface ServeOptions {
  /** The meta repo: a local path or a git URL. */
  meta: string;
  host?: string;
  /** 0 picks a free port (the URL says which). */
  port?: number;
  /** Where the service's clone lives. */
  cacheDir?: string;
  /** The branch or tag to serve (default: the remote's default branch). */
  ref?: string;
  webhookSecret?: string;
  /** Fetch this often (ms) whatever webhooks say; undefined: only at start and on webhooks. */
  pollMs?: number;
  logger?: Logger;
  environment?: NodeJS.ProcessEnv;
  /** Serve what allowed signers wrote, from this commit on (README "Signed history"). */
  trustRoot?: string;
  /**
   * The service's own identity file (`--identity`): it is then a principal like any other and
   * opens only what the access rules give it — the signing secrets of outbound webhooks, and
   * the flags of the envs it evaluates over OFREP.
   */
  identityFile?: string;
  /** The project and env of the service's own config (`webhooks.secrets.<name>: whsec_…`); both or neither. */
  configProject?: string;
  configEnv?: string;
  /** Outbound retry schedule and timeouts (outbound.ts; the defaults suit production). */
  outbound?: Omit<OutboundOptions, "dataDir" | "identities" | "configProject" | "configEnv">;
  /** How often reported changes are committed (ms; default 5 s). */
  reportIntervalMs?: number;
  /** "Name <email>" of the service's commits. */
  author?: string;
  /**
   * A NATS URL (`nats://[user:pass@]host:port`, comma-separated for a cluster): changes are
   * published there, replicas stay in step through it, and liveness is kept in its JetStream.
   */
  nats?: string;
  /** Where instance reports are kept (default: the NATS bucket with `nats`, else this replica's memory). Closed with the server. */
  liveness?: LivenessStore;
}

export interface RunningServer {
  app: FastifyInstance;
  mirror: Mirror;
  liveness: LivenessStore;
  /** The NATS connection, with `nats`. */
  nats: NatsLink | undefined;
  /** `http://host:port`, the address it listens on. */
  url: string;
  /** Stops taking requests, ends streams and long-polls, waits for requests in flight, closes the clone. */
  close(): Promise<void>;
}

/**
 * Starts the config service: syncs its own clone of the meta repo (failing when it cannot
 * reach the remote and has nothing cached), listens, and fetches on webhooks and every
 * `pollMs` (with up to 10% jitter, so replicas do not fetch in step). With `nats` it connects
 * first (failing when NATS or its JetStream cannot be reached), publishes every change, and
 * fetches when another replica announces a commit it does not have (nats.ts).
 */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  if ((o.configProject === undefined) !== (o.configEnv === undefined)) {
    throw new BootMetaError("INVALID_ARGUMENT", `the service's own config needs both --config-project and --config-env; only ${o.configProject === undefined ? "--config-env" : "--config-project"} was given`, ExitCode.InvalidArgument);
  }
  if (o.configProject !== undefined && o.identityFile === undefined) {
    throw new BootMetaError("INVALID_ARGUMENT", `--config-project ${o.configProject} needs --identity FILE: the service opens its own config with its own key`, ExitCode.InvalidArgument, {
      suggestions: ["give the service a principal of its own (`boot-meta keys add meta-server --key age1…`) and start it with --identity FILE"],
    });
  }
  const configProject = o.configProject === undefined ? undefined : validateName("project", o.configProject);
  const configEnv = o.configEnv === undefined ? undefined : validateName("env", o.configEnv);
  // Read before anything starts: a missing or unusable identity file stops the service now.
  const identities = o.identityFile === undefined ? undefined : await identitiesFromFiles([o.identityFile]);
  const env = o.environment ?? process.env;
  const cacheDir = o.cacheDir ?? join(env.XDG_CACHE_HOME || join(env.HOME ?? homedir(), ".cache"), "boot-meta", "serve");
  // A NATS URL that does not parse is refused before anything is cloned.
  if (o.nats !== undefined) parseNatsUrl(o.nats);
  const mirror = new Mirror({ source: o.meta, cacheDir, ref: o.ref, environment: o.environment, trustRoot: o.trustRoot, onWarning: (w) => o.logger?.warn({ code: w.code }, w.message) });
  await mirror.sync();
  let nats: NatsLink | undefined;
  let liveness = o.liveness;
  try {
    if (o.nats !== undefined) {
      nats = await NatsLink.connect(o.nats, { logger: o.logger });
      liveness ??= await KvLiveness.open(nats.nc);
    }
  } catch (e) {
    await nats?.close();
    await mirror.close();
    throw e;
  }
  liveness ??= new MemoryLiveness();
  const app = createApp({ mirror, logger: o.logger, webhookSecret: o.webhookSecret, liveness, identities, outbound: { ...o.outbound, dataDir: cacheDir, identities, configProject, configEnv }, reportIntervalMs: o.reportIntervalMs, author: o.author });
  try {
    await app.listen({ host: o.host ?? "127.0.0.1", port: o.port ?? 8080 });
  } catch (e) {
    await liveness.close();
    await nats?.close();
    await mirror.close();
    const err = e as NodeJS.ErrnoException;
    throw new BootMetaError("SERVER_LISTEN_FAILED", `cannot listen on ${o.host ?? "127.0.0.1"}:${o.port ?? 8080}: ${err.code ?? err.message}`, ExitCode.General, {
      suggestions: [err.code === "EADDRINUSE" ? "another process listens there: pick another --listen port" : "check the --listen address"],
    });
  }
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (o.pollMs === undefined) return;
    timer = setTimeout(
      () => {
        app.bootMeta.sync("poll");
        schedule();
      },
      o.pollMs * (0.9 + Math.random() * 0.2),
    );
    timer.unref();
  };
  schedule();
  // Another replica's announcement fetches here as a webhook would.
  nats?.follow(mirror, (reason) => app.bootMeta.sync(reason));
  const store = liveness;
  return {
    app,
    mirror,
    liveness: store,
    nats,
    url: `http://${host}:${addr.port}`,
    async close() {
      clearTimeout(timer);
      await app.close();
      // The mirror first: a sync in flight publishes its changes before NATS is drained.
      await mirror.close();
      await store.close();
      await nats?.close();
    },
  };
}
