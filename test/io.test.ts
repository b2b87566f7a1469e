import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { exists, readFileCapped, writeFileAtomic } from "../src/io.js";
import { resetLimits, setLimits } from "../src/limits.js";
import { ageKeyFile, cliWith, err, out } from "./helpers/cli.js";
import { tempDir } from "./helpers/gitdir.js";

describe("writeFileAtomic", () => {
  it("says the folder is missing (FILE_NOT_WRITABLE), writes nothing and leaves no temp file", async () => {
    const dir = tempDir();
    await expect(writeFileAtomic(join(dir, "no", "such", "x.yaml"), "x")).rejects.toMatchObject({ code: "FILE_NOT_WRITABLE", message: expect.stringContaining("its folder does not exist") });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("leaves the file as it was, and no temp file, when the rename is refused", async () => {
    const dir = tempDir();
    const target = join(dir, "target");
    mkdirSync(target);
    writeFileSync(join(target, "inside"), "kept");
    await expect(writeFileAtomic(target, "x")).rejects.toMatchObject({ code: "FILE_NOT_WRITABLE" });
    expect(readdirSync(dir)).toEqual(["target"]);
    expect(readFileSync(join(target, "inside"), "utf8")).toBe("kept");
  });

  it.skipIf(process.getuid?.() === 0)("says permission is denied in a folder it may not write", async () => {
    const dir = tempDir();
    chmodSync(dir, 0o555);
    await expect(writeFileAtomic(join(dir, "x"), "x")).rejects.toMatchObject({ code: "FILE_NOT_WRITABLE", message: expect.stringContaining("permission denied") });
    chmodSync(dir, 0o755);
  });
});

describe("decrypt --output into a folder that does not exist", () => {
  it("fails with FILE_NOT_WRITABLE, not an internal error, and writes nothing", async () => {
    const dir = tempDir();
    const key = await ageKeyFile(dir);
    const cli = cliWith({ SOPS_AGE_KEY_FILE: key.file });
    const file = join(dir, "s.yaml");
    writeFileSync(file, "a: 1\n");
    expect((await cli(["encrypt", "--in-place", "--age", key.recipient, file])).exitCode).toBe(0);
    const r = await cli(["decrypt", "--output", join(dir, "no", "x.yaml"), file, "--json"]);
    expect(r.exitCode, err(r)).toBe(1);
    expect(JSON.parse(out(r)).error.code).toBe("FILE_NOT_WRITABLE");
    expect(readdirSync(dir)).not.toContain("no");
  });
});

describe("readFileCapped", () => {
  afterEach(() => resetLimits());

  it("reads a regular file whole, and refuses one over the limit by its size (INPUT_TOO_LARGE)", async () => {
    const dir = tempDir();
    const f = join(dir, "key.txt");
    writeFileSync(f, "x".repeat(5000));
    expect((await readFileCapped(f)).toString()).toBe("x".repeat(5000));
    setLimits({ maxFileBytes: 4999 });
    await expect(readFileCapped(f, "the key file")).rejects.toMatchObject({ code: "INPUT_TOO_LARGE", message: expect.stringContaining("the key file") });
  });

  it("reads a FIFO as its writer writes it, and caps it too", async () => {
    const dir = tempDir();
    const fifo = join(dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    // The writer comes after the read began: a FIFO is read asynchronously, so this process can start it.
    const reading = readFileCapped(fifo);
    const { spawn } = await import("node:child_process");
    spawn("sh", ["-c", `printf 'AGE-SECRET-KEY-1TEST\n' > '${fifo}'`]);
    expect((await reading).toString()).toBe("AGE-SECRET-KEY-1TEST\n");
    setLimits({ maxFileBytes: 10 });
    const capped = readFileCapped(fifo, "the pipe");
    spawn("sh", ["-c", `printf '%s' '${"y".repeat(100)}' > '${fifo}'`]);
    await expect(capped).rejects.toMatchObject({ code: "INPUT_TOO_LARGE" });
  });

  it("fails as the file system does for a missing file or a folder, and exists() says so", async () => {
    const dir = tempDir();
    await expect(readFileCapped(join(dir, "nope"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(readFileCapped(dir)).rejects.toMatchObject({ code: "EISDIR" });
    expect(await exists(join(dir, "nope"))).toBe(false);
    expect(await exists(dir)).toBe(true);
  });
});
