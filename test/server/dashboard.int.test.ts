import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken } from "../../src/records/tokens.js";
import { type RunningServer, startServer } from "../../src/server/serve.js";
import { spawnCliProcess } from "../helpers/cli.js";
import { dashboardFixture, URL_SECRET } from "../helpers/dashboard.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { SECRET_VALUE } from "../helpers/service.js";
import { sshKey } from "../helpers/ssh.js";

/**
 * The dashboard in a real browser: Debian's headless Chromium (`apt-get install chromium`)
 * driven by playwright-core, against `startServer` on 127.0.0.1 over a real bare remote. Checks
 * what each page shows, that a promotion pushed to the remote reaches the open page without a
 * reload, and that no page ever asks for config or shows a value from it. Screenshots are kept
 * in test-results/dashboard/ (gitignored) for a person to look at.
 */
const CHROMIUM = process.env.BOOT_META_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dirname, "../../test-results/dashboard");

/** The little of the browser's globals the checks run in the page touch (this file is compiled without the DOM lib). */
interface Win {
  location: { hash: string };
  document: {
    getElementById(id: string): { dataset: Record<string, string | undefined>; getAttribute(name: string): string | null } | null;
    querySelector(selector: string): { textContent: string | null } | null;
  };
}

type Fixture = Awaited<ReturnType<typeof dashboardFixture>>;
let fx: Fixture;
let server: RunningServer;
let browser: Browser;
let page: Page;
/** Every URL the page asked for, and the services it was opened from. */
const requested: string[] = [];
const origins: string[] = [];
/** Every page's text as shown, to check that nothing secret was on one. */
const shown: string[] = [];
const tokens: Record<"read" | "report", string> = { read: "", report: "" };

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const text = async () => {
  const t = await page.locator("body").innerText();
  shown.push(t, await page.content());
  return t;
};
/** Opens a page of the dashboard by its hash and waits until it is drawn. */
async function open(hash: string): Promise<void> {
  const before = Number((await page.locator("#view").getAttribute("data-drawn")) ?? 0);
  await page.evaluate((h) => ((globalThis as unknown as Win).location.hash = h), hash);
  await page.waitForFunction((n) => Number((globalThis as unknown as Win).document.getElementById("view")?.dataset.drawn ?? 0) > n && (globalThis as unknown as Win).document.getElementById("view")?.getAttribute("aria-busy") === "false", before);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  fx = await dashboardFixture();
  const w = { author: "Admin <admin@test.invalid>", push: true };
  tokens.read = (await createToken(fx.work, "admin", { ...w, scopes: ["instances:read"], projects: ["shop"] })).value.token;
  tokens.report = (await createToken(fx.work, "admin", { ...w, scopes: ["instances:report"], projects: ["shop"] })).value.token;
  // Polling is how this service learns of a push here (a webhook would do the same sooner).
  server = await startServer({ meta: fx.bare, port: 0, cacheDir: tempDir(), environment: {}, pollMs: 300, reportIntervalMs: 300, author: "boot-meta serve <serve@test.invalid>" });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  page = await context.newPage();
  page.on("request", (r) => requested.push(r.url()));
  page.on("pageerror", (e) => requested.push(`pageerror: ${e.message}`));
  origins.push(server.url);
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => (globalThis as unknown as Win).document.getElementById("view")?.dataset.drawn === "1");
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("the dashboard in Chromium", () => {
  it("lists the projects, with a live indicator once the change stream is open", async () => {
    await page.locator("#live.on").waitFor();
    const t = await text();
    expect(t).toContain("Projects");
    expect(t).toMatch(/shop\s+2 channels · 3 releases · 5 instances/);
    expect(await page.locator("#live").innerText()).toBe("live");
    expect(await page.locator("#commit").innerText()).toBe(server.mirror.head?.slice(0, 10));
    await shot("projects");
  });

  it("shows a project's channels: release, rollout percent and the release the rest stay on, gates, and history as a timeline", async () => {
    await open("#/p/shop");
    const stable = page.locator('section.channel[data-channel="stable"]');
    const s = await stable.innerText();
    expect(await stable.locator(".current").innerText()).toBe("1.1");
    expect(s).toContain("50%");
    expect(s).toMatch(/the rest stay on\s*1\.0/);
    expect(s).toContain("2 of 4 instances");
    expect(await stable.locator(".gates .chip").allInnerTexts()).toEqual(["after beta", "soak 1h", "approvals 1"]);
    expect(await stable.locator(".timeline li").count()).toBe(2);
    expect(await stable.locator(".timeline li").first().innerText()).toMatch(/^1\.1\s*50%/);
    const beta = page.locator('section.channel[data-channel="beta"]');
    expect(await beta.locator(".current").innerText()).toBe("1.2");
    expect(await beta.locator(".gates").count()).toBe(0);
    expect(await page.locator("table.releases tbody tr").allInnerTexts()).toEqual([expect.stringMatching(/^1\.2\s.*beta$/s), expect.stringMatching(/^1\.1\s.*stable 50%$/s), expect.stringMatching(/^1\.0\s.*stable \(rest\)$/s)]);
    await text();
    await shot("project");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot("project-dark");
    await page.emulateMedia({ colorScheme: "light" });
  });

  it("shows a release: every repo and commit, its binaries with their storage and signers", async () => {
    await open(`#/p/shop/r/${fx.rel["1.1"]}`);
    const t = await text();
    expect(t).toContain("shop 1.1");
    expect(t).toContain("3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c");
    expect(t).toContain("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
    const rows = page.locator("table.binaries tbody tr");
    expect(await rows.count()).toBe(3);
    const byPlatform = Object.fromEntries(await Promise.all((await rows.all()).map(async (r) => [(await r.locator("td").first().innerText()).split("\n")[0], await r.innerText()])));
    expect(byPlatform["linux/amd64"]).toContain("ci ✓");
    expect(byPlatform["linux/amd64"]).toContain("https://artifacts.invalid/shop/1.1/shop-linux-amd64");
    expect(byPlatform["linux/arm64"]).toContain("unknown signer ✗");
    expect(byPlatform["linux/riscv64"]).toContain("sealed to the readers of prod");
    expect(byPlatform["linux/riscv64"]).not.toContain("vault.invalid");
    expect(t).toMatch(/Channels:\s*stable 50%/);
    await shot("release");
  });

  it("shows the fleet by release and health, who lags the rollout, and liveness once given a token", async () => {
    // Instances report health to the service (liveness, outside git).
    for (const [id, health] of [["web-1", "healthy"], ["web-2", "unhealthy"]] as const) {
      const res = await fetch(`${server.url}/v1/projects/shop/instances/${id}/report`, { method: "POST", headers: { authorization: `Bearer ${tokens.report}`, "content-type": "application/json" }, body: JSON.stringify({ status: "running", release: fx.rel["1.0"], health }) });
      expect(res.status).toBe(202);
    }
    await open("#/p/shop/fleet");
    let t = await text();
    expect(t).toContain("5 instances recorded");
    expect(t).toContain("Lagging the rollout (2)");
    expect(await page.locator("table.lagging tbody tr").count()).toBe(2);
    for (const row of await page.locator("table.lagging tbody tr").allInnerTexts()) expect(row).toMatch(/^web-\d\s+stable\s+1\.0\s+1\.1$/);
    expect(t).toContain("needs a token with instances:read");
    // A token this service does not honour: refused, said so.
    await page.locator("form.token input").fill("bmt_0000000000000000_nope");
    const drawn = Number(await page.locator("#view").getAttribute("data-drawn"));
    await page.locator("form.token button").click();
    await page.waitForFunction((n) => Number((globalThis as unknown as Win).document.getElementById("view")?.dataset.drawn) > n, drawn);
    expect(await text()).toContain("Liveness refused");
    await page.locator("form.token input").fill(tokens.read);
    const again = Number(await page.locator("#view").getAttribute("data-drawn"));
    await page.locator("form.token button").click();
    await page.waitForFunction((n) => Number((globalThis as unknown as Win).document.getElementById("view")?.dataset.drawn) > n, again);
    t = await text();
    expect(t).toContain("2 reporting to this service");
    expect(await page.locator('.chip.ok[data-instance="web-1"]').count()).toBe(1);
    expect(await page.locator('.chip.bad[data-instance="web-2"]').count()).toBe(1);
    expect(t).toMatch(/healthy:\s*web-1/);
    expect(t).toMatch(/unhealthy:\s*web-2/);
    await shot("fleet");
  });

  it("updates the open page when a promotion reaches the remote, without a reload", async () => {
    const release = await fx.release("1.3");
    await open("#/p/shop");
    await page.evaluate(() => Object.assign(globalThis, { __notReloaded: true }));
    const beta = page.locator('section.channel[data-channel="beta"]');
    expect(await beta.locator(".current").innerText()).toBe("1.2");
    const commit = await fx.promote("beta", release);
    await page.waitForFunction(() => (globalThis as unknown as Win).document.querySelector('section.channel[data-channel="beta"] .current')?.textContent === "1.3", undefined, { timeout: 120_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { __notReloaded?: boolean }).__notReloaded)).toBe(true);
    expect(await beta.locator(".timeline li").first().innerText()).toMatch(/^1\.3/);
    expect(await page.locator("#commit").innerText()).toBe(commit.slice(0, 10));
    expect(await page.locator("#live").innerText()).toBe("live");
    await text();
    await shot("project-after-promotion");
  });

  it("is served the same by the packaged `boot-meta serve`, and reconnects to it after a restart", async () => {
    // The build copies the page's files beside the bundle: the CLI as installed serves them.
    const run = spawnCliProcess();
    const cache = tempDir();
    const serve = async (listen: string) => {
      const p = run(["serve", "--json", "--meta", fx.bare, "--listen", listen, "--cache-dir", cache, "--poll", "1s", "--log-level", "silent"]);
      const url = await new Promise<string>((resolve, reject) => {
        let buf = "";
        p.stdout?.on("data", (d: Buffer) => {
          buf += d.toString("utf8");
          const line = buf.split("\n")[0] as string;
          if (buf.includes("\n")) resolve((JSON.parse(line) as { url: string }).url);
        });
        p.once("exit", (code) => reject(new Error(`serve exited (${code}) before it listened: ${buf}`)));
      });
      origins.push(url);
      return { p, url };
    };
    const first = await serve("127.0.0.1:0");
    try {
      await page.goto(`${first.url}/#/p/shop`);
      await page.locator('section.channel[data-channel="stable"]').waitFor();
      await page.locator("#live.on").waitFor();
      expect(await page.locator('section.channel[data-channel="stable"] .current').innerText()).toBe("1.1");
    } finally {
      first.p.kill("SIGTERM");
      await first.p.catch(() => undefined);
    }
    // The stream ended: the page says so, and keeps trying.
    await page.locator("#live.off").waitFor();
    expect(await page.locator("#live").innerText()).toMatch(/reconnecting|offline/);
    const second = await serve(first.url.replace(/^http:\/\//, ""));
    try {
      await page.locator("#live.on").waitFor({ timeout: 120_000 });
      const release = await fx.release("1.4");
      await fx.promote("beta", release);
      await page.waitForFunction(() => (globalThis as unknown as Win).document.querySelector('section.channel[data-channel="beta"] .current')?.textContent === "1.4", undefined, { timeout: 120_000 });
      await text();
      await shot("after-restart");
    } finally {
      second.p.kill("SIGTERM");
      await second.p.catch(() => undefined);
    }
  });

  it("never asked for config, never showed a value from it or a storage credential, and raised no script error", async () => {
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((u) => u.includes("/config") || u.startsWith("pageerror"))).toEqual([]);
    // Only the service the page came from: no other origin, no CDN.
    expect(requested.filter((u) => !origins.some((o) => u.startsWith(`${o}/`)))).toEqual([]);
    const all = shown.join("\n");
    expect(all).not.toContain(SECRET_VALUE);
    expect(all).not.toContain(URL_SECRET);
  });
});

describe("the dashboard under a trust root", () => {
  it("marks a channel history entry whose commit moved the channel without the right with an untrusted badge", async () => {
    const f = await dashboardFixture();
    const signer = sshKey("admin-signer");
    appendFileSync(join(f.work, "keys/admin.txt"), `${signer.line}\n`);
    git(f.work, "commit", "-qam", "admin signs commits");
    const root = git(f.work, "rev-parse", "HEAD");
    await f.promote("beta", f.rel["1.0"] as string);
    for (const [k, v] of [["gpg.format", "ssh"], ["user.signingkey", signer.keyFile], ["commit.gpgsign", "true"]]) git(f.work, "config", k as string, v as string);
    await f.promote("beta", f.rel["1.1"] as string);
    const s = await startServer({ meta: f.bare, port: 0, cacheDir: tempDir(), environment: {}, trustRoot: root, author: "boot-meta serve <serve@test.invalid>" });
    const p = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    try {
      p.on("pageerror", (e) => requested.push(`pageerror: ${e.message}`));
      await p.goto(`${s.url}/#/p/shop`);
      const items = p.locator('section.channel[data-channel="beta"] .timeline li');
      await items.nth(2).waitFor();
      expect(await items.count()).toBe(3);
      expect(await items.nth(0).locator(".chip.untrusted").count()).toBe(0);
      const forged = items.nth(1);
      expect(await forged.getAttribute("class")).toContain("untrusted");
      const badge = forged.locator(".chip.untrusted");
      expect(await badge.innerText()).toBe("untrusted");
      expect(await badge.getAttribute("title")).toMatch(/^commit [0-9a-f]{12}: /);
      expect(await items.nth(2).locator(".chip.untrusted").count()).toBe(0);
      shown.push(await p.content());
      await p.screenshot({ path: join(SHOTS, "project-untrusted-history.png"), fullPage: true });
    } finally {
      await p.close();
      await s.close();
    }
  });
});
