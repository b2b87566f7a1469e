import { createHook } from "node:async_hooks";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type EventDetails, OpenFeature, ProviderEvents, ProviderStatus } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BootMetaProvider, type BootMetaProviderOptions } from "../../src/flags/provider.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// The provider through the real OpenFeature server SDK, over a real meta repo written with the
// CLI (flags encrypted like every config value). Each case has a domain of its own.
describe("boot-meta/openfeature: BootMetaProvider", () => {
  const cli = cliWith();
  const meta = join(tempDir(), "meta");
  let env: NodeJS.ProcessEnv;
  let admin: Awaited<ReturnType<typeof ageKeyFile>>;
  const ok = async (...args: string[]) => {
    const r = await cli([...args, "--meta", meta], { env });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}${out(r)}`).toBe(0);
    return r;
  };
  const options = (o: Partial<BootMetaProviderOptions> = {}): BootMetaProviderOptions => ({
    repo: meta,
    project: "shop",
    env: "prod",
    identities: [admin.identity],
    environment: {},
    cwd: meta,
    ...o,
  });
  /** The next event of a kind on a domain's client, as the app would see it. */
  const next = (domain: string, event: ProviderEvents) =>
    new Promise<EventDetails>((resolve) => {
      const client = OpenFeature.getClient(domain);
      const h = (d?: EventDetails) => {
        client.removeHandler(event, h);
        resolve(d as EventDetails);
      };
      client.addHandler(event, h);
    });

  const CUSTOMER = "acme-corp-4711";

  beforeAll(async () => {
    admin = await ageKeyFile();
    env = { SOPS_AGE_KEY_FILE: admin.file };
    expect((await cli(["init", meta])).exitCode).toBe(0);
    await ok("keys", "add", "admin", "--key", admin.recipient, "--group", "admins");
    await ok("project", "create", "shop");
    await ok("env", "create", "shop", "prod");
    const def = join(tempDir(), "checkout.json");
    writeFileSync(
      def,
      JSON.stringify({
        state: "ENABLED",
        variants: { on: true, off: false },
        defaultVariant: "off",
        targeting: { if: [{ in: [CUSTOMER, [{ var: "customer" }]] }, "on", { if: [{ "===": [{ var: "channel" }, "beta"] }, "on", null] }] },
      }),
    );
    await ok("flags", "set", "new_checkout", "--file", def, "-p", "shop", "--defaults");
    await ok("flags", "set", "color", "--variants", '{"red": "#f00", "blue": "#00f"}', "--default-variant", "red", "--targeting", '{"fractional": [["red", 50], ["blue", 50]]}', "-p", "shop", "-e", "prod");
    await ok("flags", "set", "limits", "--variants", '{"small": {"rps": 10}, "big": {"rps": 100}}', "--default-variant", "small", "-p", "shop", "-e", "prod");
    await ok("flags", "set", "banner", "welcome", "-p", "shop", "-e", "prod");
    await ok("flags", "set", "old_ui", "true", "-p", "shop", "-e", "prod");
    await ok("flags", "disable", "old_ui", "-p", "shop", "-e", "prod");
  });

  afterAll(async () => {
    await OpenFeature.close();
  });

  it("answers through the SDK from the repo, with where the code runs under the app's context", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    await OpenFeature.setProviderAndWait("static", new BootMetaProvider(options({ watch: false, instance: "web-3", channel: "stable" })));
    const client = OpenFeature.getClient("static");
    expect(client.providerStatus).toBe(ProviderStatus.READY);
    expect(client.metadata.providerMetadata.name).toBe("boot-meta");

    const off = await client.getBooleanDetails("new_checkout", true);
    expect(off).toMatchObject({ value: false, variant: "off", reason: "DEFAULT", flagMetadata: { commit: head, project: "shop", env: "prod" } });
    expect(off.errorCode).toBeUndefined();
    // The app's attributes: a rule on its own attribute, and one it overrides (channel).
    expect(await client.getBooleanDetails("new_checkout", false, { customer: CUSTOMER })).toMatchObject({ value: true, variant: "on", reason: "TARGETING_MATCH" });
    expect(await client.getBooleanValue("new_checkout", false, { channel: "beta" })).toBe(true);
    expect(await client.getStringDetails("banner", "none")).toMatchObject({ value: "welcome", reason: "STATIC", flagMetadata: { commit: head } });
    expect(await client.getObjectDetails("limits", {})).toMatchObject({ value: { rps: 10 }, variant: "small", reason: "STATIC" });
    // Disabled: the code default, reason DISABLED.
    expect(await client.getBooleanDetails("old_ui", false)).toMatchObject({ value: false, reason: "DISABLED" });
  });

  it("targets by the channel and instance it was given: channel rules and splits by instance need nothing from the app", async () => {
    await OpenFeature.setProviderAndWait("beta-web-7", new BootMetaProvider(options({ watch: false, instance: "web-7", channel: "beta" })));
    await OpenFeature.setProviderAndWait("other", new BootMetaProvider(options({ watch: false, instance: "web-8" })));
    const beta = OpenFeature.getClient("beta-web-7");
    expect(await beta.getBooleanDetails("new_checkout", false)).toMatchObject({ value: true, reason: "TARGETING_MATCH" });
    const split = await beta.getStringDetails("color", "none");
    expect(split.reason).toBe("SPLIT");
    expect(["#f00", "#00f"]).toContain(split.value);
    // The instance is the default targeting key: another instance asking as web-7 gets web-7's variant.
    const other = OpenFeature.getClient("other");
    expect(await other.getBooleanValue("new_checkout", false)).toBe(false);
    expect(await other.getStringDetails("color", "none", { targetingKey: "web-7" })).toMatchObject({ value: split.value, variant: split.variant, reason: "SPLIT" });
    // Over many instances the split gives both variants (flagd-core's hash, not one answer for all).
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add(await other.getStringValue("color", "none", { targetingKey: `web-${i}` }));
    expect(seen).toEqual(new Set(["#f00", "#00f"]));
  });

  it("gives TYPE_MISMATCH, FLAG_NOT_FOUND as OpenFeature's error codes, with the code default", async () => {
    await OpenFeature.setProviderAndWait("errors", new BootMetaProvider(options({ watch: false })));
    const client = OpenFeature.getClient("errors");
    const mismatch = await client.getNumberDetails("banner", 7);
    expect(mismatch).toMatchObject({ value: 7, reason: "ERROR", errorCode: "TYPE_MISMATCH" });
    const missing = await client.getBooleanDetails("no_such_flag", true);
    expect(missing).toMatchObject({ value: true, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
    expect(client.providerStatus).toBe(ProviderStatus.READY);
  });

  it("fails to start for a reader who cannot open the env: the SDK's ERROR, and evaluations give the default", async () => {
    const stranger = await ageKeyFile();
    await expect(OpenFeature.setProviderAndWait("denied", new BootMetaProvider(options({ watch: false, identities: [stranger.identity] })))).rejects.toMatchObject({ code: "CONFIG_ACCESS_DENIED" });
    const client = OpenFeature.getClient("denied");
    expect(client.providerStatus).toBe(ProviderStatus.ERROR);
    expect(await client.getBooleanDetails("new_checkout", true)).toMatchObject({ value: true, reason: "ERROR", errorCode: "PROVIDER_NOT_READY" });
  });

  it("follows the repo: a commit that changes flags emits ConfigurationChanged with their keys only; a failed load turns it STALE, the next load READY; close leaves no timer", async () => {
    // Every timer, child process (git) and pipe made from here on, until it ends: what a watcher still running would hold.
    const WATCHING = new Set(["Timeout", "PROCESSWRAP", "PIPEWRAP", "FSREQCALLBACK"]);
    const live = new Map<number, string>();
    const hook = createHook({
      init: (id, type) => void (WATCHING.has(type) && live.set(id, type)),
      destroy: (id) => void live.delete(id),
    }).enable();
    const errors: Error[] = [];
    const provider = new BootMetaProvider(options({ pollIntervalMs: 20, onError: (e) => errors.push(e) }));
    await OpenFeature.setProviderAndWait("watch", provider);
    const client = OpenFeature.getClient("watch");
    const changes: string[][] = [];
    client.addHandler(ProviderEvents.ConfigurationChanged, (d) => changes.push(d?.flagsChanged ?? []));
    expect(await client.getStringValue("banner", "none")).toBe("welcome");

    let changed = next("watch", ProviderEvents.ConfigurationChanged);
    await ok("flags", "set", "banner", "hello", "-p", "shop", "-e", "prod");
    expect(await changed).toMatchObject({ flagsChanged: ["banner"], metadata: { commit: git(meta, "rev-parse", "HEAD") } });
    expect(await client.getStringDetails("banner", "none")).toMatchObject({ value: "hello", flagMetadata: { commit: git(meta, "rev-parse", "HEAD") } });

    // A change to a config value that is not a flag, then one to a flag: one event, for the flag.
    await ok("config", "set", "db.pool", "12", "-p", "shop", "-e", "prod");
    changed = next("watch", ProviderEvents.ConfigurationChanged);
    await ok("flags", "enable", "old_ui", "-p", "shop", "-e", "prod");
    expect((await changed).flagsChanged).toEqual(["old_ui"]);
    expect(changes).toEqual([["banner"], ["old_ui"]]);
    expect(await client.getBooleanDetails("old_ui", false)).toMatchObject({ value: true, reason: "STATIC" });

    // A commit this reader cannot load: STALE, answering from the flags it has.
    const file = "shop/envs/prod/config.sops.yaml";
    const stale = next("watch", ProviderEvents.Stale);
    writeFileSync(join(meta, file), "not: [a sops file\n");
    git(meta, "commit", "-qam", "break prod's config");
    const s = await stale;
    expect(s.message).toContain("prod");
    expect(errors.length).toBeGreaterThan(0);
    expect(client.providerStatus).toBe(ProviderStatus.STALE);
    expect(await client.getStringValue("banner", "none")).toBe("hello");

    // Repaired, then a flag changed: READY again and the change told.
    git(meta, "checkout", "HEAD~1", "--", file);
    git(meta, "commit", "-qam", "repair prod's config");
    const ready = next("watch", ProviderEvents.Ready);
    changed = next("watch", ProviderEvents.ConfigurationChanged);
    await ok("flags", "set", "banner", "back", "-p", "shop", "-e", "prod");
    await ready;
    expect((await changed).flagsChanged).toEqual(["banner"]);
    expect(client.providerStatus).toBe(ProviderStatus.READY);
    expect(await client.getStringValue("banner", "none")).toBe("back");

    await OpenFeature.close();
    expect(provider.flagSet).toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    hook.disable();
    expect([...live.values()]).toEqual([]);
    expect(await client.getStringDetails("banner", "none")).toMatchObject({ value: "none", reason: "ERROR" });
  });

  it("started from the last fetched copy of a git URL it cannot reach: READY, then STALE, answering; READY again once fetched", async () => {
    const bare = join(tempDir(), "meta.git");
    git(tempDir(), "clone", "-q", "--bare", meta, bare);
    const url = `file://${bare}`;
    const cacheDir = tempDir("cache-");
    const branch = git(meta, "rev-parse", "--abbrev-ref", "HEAD");
    // A first start fills the cache; the second starts with the remote gone.
    const first = new BootMetaProvider(options({ repo: url, cacheDir, watch: false }));
    await first.initialize();
    await first.onClose();
    const away = `${bare}.away`;
    renameSync(bare, away);
    const warnings: string[] = [];
    const stale = next("url", ProviderEvents.Stale);
    await OpenFeature.setProviderAndWait("url", new BootMetaProvider(options({ repo: url, cacheDir, pollIntervalMs: 20, retry: { minMs: 20, maxMs: 40 }, onWarning: (w) => warnings.push(w.code), onError: () => undefined })));
    const client = OpenFeature.getClient("url");
    expect((await stale).metadata).toMatchObject({ code: "CONFIG_STALE" });
    expect(warnings).toContain("CONFIG_STALE");
    expect(client.providerStatus).toBe(ProviderStatus.STALE);
    const before = await client.getStringValue("banner", "none");
    expect(before).not.toBe("none");

    // The remote back with a flag changed: READY, and the change told.
    renameSync(away, bare);
    const ready = next("url", ProviderEvents.Ready);
    const changed = next("url", ProviderEvents.ConfigurationChanged);
    await ok("flags", "set", "banner", "from-url", "-p", "shop", "-e", "prod");
    git(meta, "push", "-q", bare, `HEAD:refs/heads/${branch}`);
    await ready;
    expect((await changed).flagsChanged).toEqual(["banner"]);
    expect(client.providerStatus).toBe(ProviderStatus.READY);
    expect(await client.getStringValue("banner", "none")).toBe("from-url");
  });
});
