import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { discard, download, installFile, restorePrevious } from "../../src/agent/install.js";
import { failedBefore, readAgentState, refusedBefore, statePath, writeAgentState } from "../../src/agent/state.js";
import { digestFile } from "../../src/records/binaries.js";
import type { BinaryRecord } from "../../src/records/types.js";
import { tempDir } from "../helpers/gitdir.js";

async function recordOf(file: string): Promise<BinaryRecord> {
  const d = await digestFile(file);
  return { sha256: d.sha256, size: String(d.size), os: "linux", arch: "amd64", project: "shop", releaseId: "20260101T000000Z-1.1", urls: [pathToFileURL(file).href], signatures: [], createdAt: "2026-01-01T00:00:00Z" };
}

describe("the agent's install steps", () => {
  it("downloads beside PATH, then swaps it in keeping the old binary's mode, with the old one as PATH.previous; a rollback puts it back", async () => {
    const dir = tempDir();
    const install = join(dir, "shop");
    writeFileSync(install, "old build");
    chmodSync(install, 0o750);
    const src = join(tempDir(), "new");
    writeFileSync(src, "new build");
    const rec = await recordOf(src);
    const d = await download(rec, [`https://127.0.0.1:9/unreachable`, pathToFileURL(src).href], install, { sealed: false, timeoutMs: 2000 });
    expect(d.tmp.startsWith(`${dir}/`)).toBe(true);
    expect(d).toMatchObject({ sha256: rec.sha256, size: 9 });
    await installFile(d, install, {});
    expect(readFileSync(install, "utf8")).toBe("new build");
    expect(statSync(install).mode & 0o777).toBe(0o750);
    expect(readFileSync(`${install}.previous`, "utf8")).toBe("old build");
    expect(readdirSync(dir).sort()).toEqual(["shop", "shop.previous"]);
    expect(await restorePrevious(install)).toBe(true);
    expect(readFileSync(install, "utf8")).toBe("old build");
    expect(await restorePrevious(install)).toBe(false);
  });

  it("stops reading a download past the recorded size, and leaves nothing behind when no URL answers", async () => {
    const dir = tempDir();
    const install = join(dir, "shop");
    const big = join(tempDir(), "big");
    writeFileSync(big, Buffer.alloc(1 << 20, 1));
    const d = await download({ ...(await recordOf(big)), size: "10" }, [pathToFileURL(big).href], install, { sealed: false });
    expect(d.size).toBeGreaterThan(10);
    expect(statSync(d.tmp).size).toBeLessThanOrEqual(1 << 16);
    await discard(d);
    await expect(download(await recordOf(big), ["s3://bucket/shop", pathToFileURL(join(dir, "missing")).href], install, { sealed: true })).rejects.toMatchObject({
      code: "AGENT_DOWNLOAD_FAILED",
      message: expect.stringMatching(/s3:\/\/bucket\/…: the agent downloads http\(s\) and file URLs only.*ENOENT/),
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("keeps its state beside PATH, written whole; a state file it cannot read is an empty state", async () => {
    const install = join(tempDir(), "shop");
    expect(await readAgentState(install)).toEqual({ failed: [], refused: [] });
    const failed = [{ release: "r2", sha256: "b".repeat(64), reason: "HTTP 500", at: "2026-01-01T00:00:00Z" }];
    const refused = [{ release: "r3", sha256: "e".repeat(64), code: "BINARY_SIGNATURE_INVALID", reason: "it is not signed", at: "2026-01-01T00:00:00Z" }];
    await writeAgentState(install, { release: "r1", sha256: "a".repeat(64), previous: { release: "r0", sha256: "c".repeat(64) }, failed, refused });
    const s = await readAgentState(install);
    expect(s).toMatchObject({ release: "r1", previous: { release: "r0" }, failed, refused });
    expect(refusedBefore(s, "r3", "e".repeat(64))?.code).toBe("BINARY_SIGNATURE_INVALID");
    expect(refusedBefore(s, "r3", "f".repeat(64))).toBeUndefined();
    expect(refusedBefore(s, "r4", "e".repeat(64))).toBeUndefined();
    expect(failedBefore(s, "r2", "b".repeat(64))?.reason).toBe("HTTP 500");
    expect(failedBefore(s, "r2", "d".repeat(64))).toBeUndefined();
    writeFileSync(statePath(install), "{ not json");
    expect(await readAgentState(install)).toEqual({ failed: [], refused: [] });
  });
});
