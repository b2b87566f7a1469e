import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { jittered } from "../../src/agent/follow.js";
import { RepoSource } from "../../src/agent/source.js";
import { readAgentState, statePath } from "../../src/agent/state.js";
import { promoteChannel } from "../../src/records/channels.js";
import { fleetOf, readInstances } from "../../src/records/fleet.js";
import { reportInstance } from "../../src/records/instances.js";
import { rolloutOf } from "../../src/records/rollout.js";
import { getChannel } from "../../src/records/channels.js";
import { withReader } from "../../src/meta/reader.js";
import { cliWith, err, out } from "../helpers/cli.js";
import { agentArgs, type Fleet, fleetRepo } from "../helpers/fleet.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { sshKey } from "../helpers/ssh.js";

const cli = cliWith();
const AUTHOR = "Test Author <author@test.invalid>";

/** One `agent --once --json` step; the parsed object (the step, or the error with the step as its data). */
async function once(f: Fleet, install: string, extra: string[] = []) {
  const timeout = extra.includes("--health-timeout") ? [] : ["--health-timeout", "5"];
  const r = await cli([...agentArgs(f, install, ["--meta", f.remote, "--health", `${install} health`, ...timeout, ...extra]), "--once", "--json"]);
  const text = out(r);
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`not JSON (exit ${r.exitCode}): ${text}\n${err(r)}`);
  }
  return { exitCode: r.exitCode, json, stderr: err(r) };
}

/** The instance record of web-1 as the remote has it. */
function instanceRecord(f: Fleet): any {
  const list = git(f.remote, "ls-tree", "-r", "--name-only", "main", "shop/instances").split("\n").filter((p) => p.endsWith("/web-1.json"));
  return list.length ? JSON.parse(git(f.remote, "show", `main:${list[0]}`)) : undefined;
}

/** Every file beside PATH: a refused download leaves none of its own. */
const beside = (install: string) => readdirSync(join(install, "..")).sort();

describe("boot-meta agent --once", () => {
  it("installs the channel's release, is up to date next, upgrades to a promotion keeping the old binary as PATH.previous, and reports", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.promote("1.0");
    const install = join(tempDir(), "shop");

    const first = await once(f, install);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.json).toMatchObject({ action: "installed", wanted: expect.stringMatching(/-1\.0$/), release: expect.stringMatching(/-1\.0$/), previous: null, health: "healthy" });
    expect(readFileSync(install, "utf8")).toContain("test server 1.0");
    expect(statSync(install).mode & 0o777).toBe(0o755);
    expect(first.stderr).toMatch(/installed 1\.0 \(sha256 [0-9a-f]{12}…\), healthy in \d+\.\d s/);
    expect(instanceRecord(f)).toMatchObject({ id: "web-1", channel: "stable", releaseId: first.json.release, status: "running", health: "healthy" });

    const again = await once(f, install);
    expect(again.json).toMatchObject({ action: "up-to-date", release: first.json.release, health: "healthy" });

    await f.release("1.1");
    await f.promote("1.1");
    const up = await once(f, install);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.json).toMatchObject({ action: "installed", release: expect.stringMatching(/-1\.1$/), previous: first.json.release });
    expect(readFileSync(install, "utf8")).toContain("test server 1.1");
    expect(readFileSync(`${install}.previous`, "utf8")).toContain("test server 1.0");
    expect(await readAgentState(install)).toMatchObject({ release: up.json.release, sha256: up.json.sha256, previous: { release: first.json.release }, failed: [] });
    expect(beside(install)).toEqual(["shop", "shop.boot-meta.json", "shop.previous"]);
  });

  it("rolls back a release that is not healthy, records why, and does not try it again while the channel gives it", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.promote("1.0");
    const install = join(tempDir(), "shop");
    expect((await once(f, install)).exitCode).toBe(0);
    const broken = await f.release("1.2", { healthy: false });
    await f.promote("1.2");

    const r = await once(f, install, ["--health-timeout", "2"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.json.error).toMatchObject({ code: "AGENT_HEALTH_FAILED", data: { action: "rolled-back", wanted: broken.id, release: expect.stringMatching(/-1\.0$/), health: "unhealthy" } });
    expect(r.json.error.message).toMatch(/was not healthy within 2 s \(last: exit 1\)/);
    expect(readFileSync(install, "utf8")).toContain("test server 1.0");
    const state = await readAgentState(install);
    expect(state.failed).toEqual([{ release: broken.id, sha256: broken.sha256, reason: expect.stringContaining("not healthy"), at: expect.any(String) }]);
    expect(instanceRecord(f)).toMatchObject({ releaseId: expect.stringMatching(/-1\.0$/), status: "failed", health: "unhealthy", lastError: expect.stringContaining("not healthy") });

    const next = await once(f, install);
    expect(next.json.error).toMatchObject({ code: "AGENT_RELEASE_FAILED_BEFORE", data: { action: "refused" } });
    expect(readFileSync(install, "utf8")).toContain("test server 1.0");

    // The channel moves on: the failure is forgotten, and the new release installs.
    await f.release("1.3");
    await f.promote("1.3");
    const fixed = await once(f, install);
    expect(fixed.json).toMatchObject({ action: "installed", release: expect.stringMatching(/-1\.3$/) });
    expect((await readAgentState(install)).failed).toEqual([]);
  });

  describe("refuses a binary it cannot trust, leaving PATH and its state as they were (but for the refusal it remembers)", () => {
    const cases: [string, (f: Fleet) => Promise<unknown>, string, RegExp][] = [
      [
        "a download whose digest is not the record's",
        async (f) => {
          const b = await f.release("1.1");
          writeFileSync(b.file, `${readFileSync(b.file, "utf8")}// tampered\n`);
        },
        "BINARY_DIGEST_MISMATCH",
        // Nothing of what was read (its hash, its size) is told: a record pointing at a local
        // file would otherwise make the agent report that file's fingerprint to the writers.
        /is not that binary: its size differs from the record's; it was not installed$/,
      ],
      ["a binary signed by a key not in keys/signers", async (f) => f.release("1.1", { sign: sshKey("mallory").keyFile }), "BINARY_SIGNATURE_INVALID", /which is not a key in keys\/signers\//],
      ["an unsigned binary", async (f) => f.release("1.1", { sign: "none" }), "BINARY_SIGNATURE_INVALID", /it is not signed/],
      [
        "a sealed record whose encrypted URL was tampered with",
        async (f) => {
          const b = await f.release("1.1", { sealed: true });
          const path = git(f.admin, "ls-files", "shop/binaries").split("\n").find((p) => p.includes(b.sha256) && p.endsWith(".sops.json")) as string;
          const text = readFileSync(join(f.admin, path), "utf8");
          // Another ciphertext of the same shape: sops' MAC no longer matches.
          writeFileSync(join(f.admin, path), text.replace(/ENC\[AES256_GCM,data:([A-Za-z0-9+/]{4})/, (_m, d: string) => `ENC[AES256_GCM,data:${d === "AAAA" ? "BBBB" : "AAAA"}`));
          git(f.admin, "commit", "-qam", "tamper");
          git(f.admin, "push", "-q", "origin", "main");
        },
        "SOPS_VALUE_AUTH_FAILED",
        /./,
      ],
    ];
    for (const [what, make, code, message] of cases) {
      it(what, async () => {
        const f = await fleetRepo();
        await f.release("1.0");
        await f.promote("1.0");
        const install = join(tempDir(), "shop");
        expect((await once(f, install)).exitCode).toBe(0);
        const before = { bin: readFileSync(install), state: readFileSync(statePath(install)), files: beside(install) };
        await make(f);
        await f.promote("1.1");
        const r = await once(f, install);
        expect(r.exitCode).not.toBe(0);
        expect(r.json.error.code).toBe(code);
        expect(r.json.error.message).toMatch(message);
        // A sealed record that does not open is refused before a release is decided (wanted: null).
        expect(r.json.error.data).toMatchObject({ action: "refused", release: expect.stringMatching(/-1\.0$/) });
        expect(readFileSync(install)).toEqual(before.bin);
        const { refused, updatedAt: _u, ...rest } = await readAgentState(install);
        const { refused: _r, updatedAt: _b, ...was } = JSON.parse(before.state.toString("utf8"));
        expect(rest).toEqual({ ...was, previous: undefined });
        // A record that does not open names no binary to remember; a bad binary is remembered by its sha256.
        expect(refused).toEqual(r.json.error.data.wanted ? [{ release: r.json.error.data.wanted, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), code, reason: r.json.error.message, at: expect.any(String) }] : []);
        expect(beside(install)).toEqual(before.files);
      });
    }
  });

  it("does not download a refused binary again while the channel gives it, still reports the refusal, and forgets it when the channel moves on", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.promote("1.0");
    const install = join(tempDir(), "shop");
    expect((await once(f, install)).exitCode).toBe(0);
    const bad = await f.release("1.1", { sign: "none" });
    await f.promote("1.1");
    const first = await once(f, install);
    expect(first.json.error).toMatchObject({ code: "BINARY_SIGNATURE_INVALID", data: { action: "refused", wanted: bad.id } });
    expect((await readAgentState(install)).refused).toEqual([{ release: bad.id, sha256: bad.sha256, code: "BINARY_SIGNATURE_INVALID", reason: first.json.error.message, at: expect.any(String) }]);

    // The file at the record's URL is gone: a second download would fail as unreachable (AGENT_DOWNLOAD_FAILED).
    rmSync(bad.file);
    const again = await once(f, install);
    expect(again.exitCode).not.toBe(0);
    expect(again.json.error.code).toBe("BINARY_SIGNATURE_INVALID");
    expect(again.json.error.message).toContain("not downloaded again until the channel gives another binary");
    expect(again.json.error.data).toMatchObject({ action: "refused", wanted: bad.id, release: expect.stringMatching(/-1\.0$/) });
    expect(instanceRecord(f)).toMatchObject({ releaseId: expect.stringMatching(/-1\.0$/), status: "running", lastError: expect.stringContaining("it is not signed") });
    expect(readFileSync(install, "utf8")).toContain("test server 1.0");

    // A new release (a new binary) is looked at afresh; the refusal is forgotten.
    await f.release("1.2");
    await f.promote("1.2");
    const fixed = await once(f, install);
    expect(fixed.json).toMatchObject({ action: "installed", release: expect.stringMatching(/-1\.2$/) });
    expect((await readAgentState(install)).refused).toEqual([]);
  });

  it("opens a sealed binary's URL with its own identity, and never prints it", async () => {
    const f = await fleetRepo();
    await f.release("1.0", { sealed: true });
    await f.promote("1.0");
    const install = join(tempDir(), "shop");
    const r = await once(f, install);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ action: "installed" });
    expect(r.stderr + JSON.stringify(r.json)).not.toContain(f.artifacts);
  });

  it("with a trust root, does not follow a promotion committed unsigned (and says so)", async () => {
    const admin = sshKey("admin");
    const f = await fleetRepo({ commitKey: admin.keyFile });
    // The admin's signing key joins keys/admin.txt: from this commit on, signed history is checkable.
    const adminTxt = join(f.admin, "keys/admin.txt");
    writeFileSync(adminTxt, `${readFileSync(adminTxt, "utf8").trimEnd()}\n${admin.line.split(" ").slice(0, 2).join(" ")}\n`);
    git(f.admin, "commit", "-qam", "admin signs");
    git(f.admin, "push", "-q", "origin", "main");
    const root = git(f.admin, "rev-parse", "HEAD");
    await f.release("1.0");
    await f.release("1.1");
    await f.promote("1.0");
    const install = join(tempDir(), "shop");
    const first = await once(f, install, ["--trust-root", root]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.json).toMatchObject({ action: "installed", release: expect.stringMatching(/-1\.0$/), warnings: [] });

    git(f.admin, "config", "commit.gpgsign", "false");
    await promoteChannel(f.admin, "shop", "stable", "1.1", { author: AUTHOR, push: true });
    const r = await once(f, install, ["--trust-root", root]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ action: "up-to-date", wanted: first.json.release, release: first.json.release });
    expect(r.json.warnings).toEqual([expect.stringMatching(/^shop\/channels\/stable\.json is read at its last trusted version, not as committed: commit [0-9a-f]{12}: the commit is not signed$/)]);
    expect(r.stderr).toContain("warning: shop/channels/stable.json is read at its last trusted version");
    expect(readFileSync(install, "utf8")).toContain("test server 1.0");
  });

  it("takes the release the channel's rollout gives its instance id, as every other reader decides it", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.release("1.1");
    await f.promote("1.0");
    const ids = ["web-1", "web-2", "web-3", "web-4", "web-5", "web-6"];
    for (const id of ids) await reportInstance(f.admin, "shop", id, { channel: "stable", release: "1.0", author: AUTHOR, push: true });
    await f.promote("1.1", 50);
    const expected = await withReader(f.admin, undefined, async (r) => rolloutOf(await getChannel(r, "shop", "stable"), fleetOf(await readInstances(r, "shop"), "stable")));
    const got = new Set<string>();
    for (const id of ids) {
      const w = await new RepoSource(f.admin, { project: "shop", channel: "stable", instance: id, os: f.os, arch: f.arch }, { env: process.env }).wanted();
      expect(w.release, id).toBe(expected.releaseFor(id));
      got.add(w.release);
    }
    expect(got.size).toBe(2);
  });

  it("keeps what it runs when its source cannot be reached, and says so", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.promote("1.0");
    const install = join(tempDir(), "shop");
    expect((await once(f, install)).exitCode).toBe(0);
    const before = { bin: readFileSync(install), state: readFileSync(statePath(install)) };
    // A port nothing listens on (the discard port), and a remote that is gone.
    const dead = await cli([...agentArgs(f, install, ["--server", "http://127.0.0.1:9", "--token", "bmt_x"]), "--once", "--json"]);
    expect(dead.exitCode).not.toBe(0);
    expect(JSON.parse(out(dead)).error).toMatchObject({ code: "AGENT_UNREACHABLE", message: expect.stringContaining("cannot reach the service at http://127.0.0.1:9"), data: { action: "unreachable", release: expect.stringMatching(/-1\.0$/) } });
    expect(JSON.stringify(JSON.parse(out(dead))) + err(dead)).not.toContain("bmt_x");
    const gone = await cli([...agentArgs(f, install, ["--meta", `file://${join(tempDir(), "no-such-remote.git")}`]), "--once", "--json"]);
    expect(JSON.parse(out(gone)).error).toMatchObject({ code: "AGENT_UNREACHABLE", data: { action: "unreachable" } });
    expect(readFileSync(install)).toEqual(before.bin);
    expect(readFileSync(statePath(install))).toEqual(before.state);
  });

  it("refuses bad input with typed errors before it touches anything", async () => {
    const f = await fleetRepo();
    const install = join(tempDir(), "shop");
    const m = ["--meta", f.remote];
    const cases: [string[], string, RegExp][] = [
      [[...m, "--interval", "0"], "INVALID_ARGUMENT", /--interval "0" is not a number of seconds/],
      [[...m, "--supervise", "--restart", "true"], "INVALID_ARGUMENT", /--restart or --supervise, not both/],
      [[...m, "--os", "Linux"], "INVALID_ARGUMENT", /--os "Linux" is not a platform name/],
      [["--server", "ftp://x"], "INVALID_ARGUMENT", /is not an http\(s\) URL/],
      [[...m, "--server", "http://127.0.0.1:9"], "INVALID_ARGUMENT", /--server\) or a meta repository \(--meta\), not both/],
      [["--server", "http://127.0.0.1:9", "--trust-root", "HEAD"], "INVALID_ARGUMENT", /the service applies its own/],
      [[...m, "--supervise", "--once"], "INVALID_ARGUMENT", /cannot exit after one step/],
    ];
    for (const [extra, code, message] of cases) {
      const r = await cli([...agentArgs(f, install), ...extra, "--once", "--json"]);
      expect(r.exitCode, extra.join(" ")).not.toBe(0);
      const e = JSON.parse(out(r)).error;
      expect(e.code, extra.join(" ")).toBe(code);
      expect(e.message).toMatch(message);
    }
    const named = await cli(["agent", "-p", "shop", "--channel", "stable", "--instance", "../x", "--install", install, ...m, "--once", "--json"]);
    expect(JSON.parse(out(named)).error.code).toBe("META_INVALID_NAME");
    expect(existsSync(install)).toBe(false);
    expect(existsSync(statePath(install))).toBe(false);
  });

  it("spreads its polls ±25% around the period", () => {
    expect(jittered(1000, () => 0)).toBe(750);
    expect(jittered(1000, () => 0.999999)).toBe(1250);
    expect(jittered(60_000, () => 0.5)).toBe(60_000);
  });
});
