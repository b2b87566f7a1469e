import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Mirror } from "./mirror.js";

/**
 * The service's Prometheus metrics, in a registry of its own (several apps can live in one
 * process: the tests run two replicas). Labels are routes and codes, never a path or a value
 * from the repo.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<"method" | "route" | "status">;
  readonly latency: Histogram<"method" | "route">;
  readonly subscribers: Gauge<"stream">;
  readonly syncs: Counter<"outcome">;
  readonly webhookDeliveries: Counter<"outcome" | "subscription">;
  readonly webhookSubscriptions: Gauge<"subscription" | "state">;
  readonly inboundHooks: Counter<"provider" | "outcome">;

  constructor(mirror: Mirror) {
    const registers = [this.registry];
    this.requests = new Counter({ name: "bootmeta_http_requests_total", help: "HTTP requests answered, by route and status", labelNames: ["method", "route", "status"], registers });
    this.latency = new Histogram({
      name: "bootmeta_http_request_duration_seconds",
      help: "Time to answer an HTTP request (long-polls and streams excluded)",
      labelNames: ["method", "route"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.subscribers = new Gauge({ name: "bootmeta_subscribers", help: "Clients following changes now, by stream (sse, longpoll)", labelNames: ["stream"], registers });
    this.syncs = new Counter({ name: "bootmeta_syncs_total", help: "Fetches of the meta repository, by outcome", labelNames: ["outcome"], registers });
    this.webhookDeliveries = new Counter({
      name: "bootmeta_webhook_deliveries_total",
      help: "Outbound webhook attempts and deliveries, by subscription and outcome: delivered, failed (an attempt; retried), dead (every attempt failed), gone (410: disabled), skipped (no signing secret), abandoned (the service stopped)",
      labelNames: ["outcome", "subscription"],
      registers,
    });
    this.webhookSubscriptions = new Gauge({
      name: "bootmeta_webhook_subscriptions",
      help: "Files under subscriptions/ at the served commit, by state: active, invalid (the file), no_secret (its signing secret cannot be opened), disabled (its receiver answered 410)",
      labelNames: ["subscription", "state"],
      registers,
    });
    this.inboundHooks = new Counter({ name: "bootmeta_inbound_hooks_total", help: "Inbound push webhooks, by provider and outcome", labelNames: ["provider", "outcome"], registers });
    new Gauge({
      name: "bootmeta_sync_lag_seconds",
      help: "Seconds since the clone last reached the remote (-1 before the first sync)",
      registers,
      collect() {
        this.set(mirror.lastSync === undefined ? -1 : (Date.now() - mirror.lastSync) / 1000);
      },
    });
    new Gauge({
      name: "bootmeta_untrusted_paths",
      help: "Paths served at their last trusted version because their newest change was not made by an allowed signer (with a trust root)",
      registers,
      collect() {
        this.set(mirror.tainted.size);
      },
    });
    new Gauge({
      name: "bootmeta_served_commit_info",
      help: "The commit served (label), always 1",
      labelNames: ["commit"],
      registers,
      collect() {
        this.reset();
        if (mirror.head) this.set({ commit: mirror.head }, 1);
      },
    });
  }
}
