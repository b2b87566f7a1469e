import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { progressLine } from "../../src/cli/progress.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { tempDir } from "../helpers/gitdir.js";

/** A real stream standing in for standard error, told whether it is a terminal (as a tty.WriteStream says). */
function stderrLike(isTTY: boolean, columns = 40) {
  const s = Object.assign(new PassThrough(), { isTTY, columns });
  const chunks: string[] = [];
  s.on("data", (c: Buffer) => chunks.push(c.toString("utf8")));
  return { stream: s, written: () => chunks.join("") };
}

const human = { jsonEnabled: () => false };

describe("the progress line", () => {
  it("rewrites one line in place on a terminal, and clears it when done", async () => {
    const t = stderrLike(true);
    const p = progressLine(human, { stream: t.stream, env: {} });
    expect(p.active).toBe(true);
    p.update("[1/3] rotated a");
    p.update("[1/3] rotated a");
    p.update("[2/3] rotated b");
    p.done();
    await new Promise((r) => setImmediate(r));
    expect(t.written()).toBe("\r\x1b[2K[1/3] rotated a\r\x1b[2K[2/3] rotated b\r\x1b[2K");
  });

  it("keeps to one row of the terminal and never shows a private key", async () => {
    const t = stderrLike(true, 30);
    const p = progressLine(human, { stream: t.stream, env: {} });
    p.update(`[1/1] rotated ${"x".repeat(100)}`);
    p.update("a\nb");
    await new Promise((r) => setImmediate(r));
    const lines = t.written().split("\r\x1b[2K").filter((l) => l !== "");
    expect(lines[0]).toBe(`[1/1] rotated ${"x".repeat(14)}…`);
    expect(lines[1]).toBe("a b");
    const wide = stderrLike(true, 200);
    const q = progressLine(human, { stream: wide.stream, env: {} });
    q.update(`refused x: AGE-SECRET-KEY-1${"Q".repeat(58)}`);
    await new Promise((r) => setImmediate(r));
    expect(wide.written()).toMatch(/^\r\x1b\[2Krefused x: /);
    expect(wide.written()).not.toContain("QQQQ");
  });

  it("writes nothing under --json, in CI, or when standard error is not a terminal", async () => {
    for (const [cmd, tty, env] of [
      [{ jsonEnabled: () => true }, true, {}],
      [human, true, { CI: "true" }],
      [human, false, {}],
    ] as const) {
      const t = stderrLike(tty);
      const p = progressLine(cmd, { stream: t.stream, env });
      expect(p.active).toBe(false);
      p.update("[1/1] rotated a");
      p.done();
      await new Promise((r) => setImmediate(r));
      expect(t.written()).toBe("");
    }
  });
});

describe("long commands off a terminal", () => {
  it("keys remove and access sync print their result and no progress to a pipe, nothing on stderr under --json", async () => {
    const cli = cliWith();
    const meta = join(tempDir(), "meta");
    const admin = await ageKeyFile();
    const alice = await ageKeyFile();
    const env = { SOPS_AGE_KEY_FILE: admin.file };
    const ok = async (args: string[]) => {
      const r = await cli([...args, "--meta", meta], { env });
      expect(r.exitCode, err(r)).toBe(0);
      return r;
    };
    expect((await cli(["init", meta])).exitCode).toBe(0);
    await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins"]);
    await ok(["keys", "add", "alice", "--key", alice.recipient, "--group", "developers"]);
    await ok(["project", "create", "shop"]);
    await ok(["env", "create", "shop", "dev"]);
    const removed = await ok(["keys", "remove", "alice"]);
    expect(err(removed)).toBe("removed alice; 1 file(s) rotated\n");
    expect(out(removed)).toBe("");
    const json = await ok(["access", "sync", "--json"]);
    expect(err(json)).toBe("");
    expect(JSON.parse(out(json))).toMatchObject({ rotated: [] });
  });
});
