import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../src/error-codes.js";
import { cliWith, out } from "./helpers/cli.js";
import { tempDir } from "./helpers/gitdir.js";

const ROOT = join(import.meta.dirname, "..");
const cli = cliWith();

describe("the error catalogue", () => {
  it("every code in it is thrown or reported somewhere in src/", () => {
    const text = readdirSync(join(ROOT, "src"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") && f !== "error-codes.ts")
      .map((f) => readFileSync(join(ROOT, "src", f), "utf8"))
      .join("\n");
    const dead = Object.keys(ERROR_CODES).filter((code) => !text.includes(`"${code}"`));
    expect(dead).toEqual([]);
  });

  it("the README's table is the catalogue, code for code and exit for exit", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const rows = [...readme.matchAll(/^\| `([A-Z0-9_]+)` \| (\d+) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2])]);
    const want = Object.entries(ERROR_CODES).map(([code, e]) => [code, e.exit]);
    expect(rows.sort()).toEqual(want.sort());
  });

  it("failures through the CLI exit with their code's exit code", async () => {
    const dir = tempDir();
    const cases: [string[], string][] = [
      [["decrypt", join(dir, "missing.yaml")], "FILE_NOT_FOUND"],
      [["init", join(dir, "meta")], ""],
      [["access", "check", "--meta", join(dir, "meta")], "ACCESS_NOTHING_CHECKED"],
      [["project", "create", "../etc", "--meta", join(dir, "meta")], "META_INVALID_NAME"],
      [["encrypt", "--age", "age1notakey", join(dir, "missing.yaml")], ""],
    ];
    for (const [args, code] of cases) {
      const r = await cli([...args, "--json"]);
      if (!code) continue;
      const e = JSON.parse(out(r)).error;
      expect(e.code, args.join(" ")).toBe(code);
      expect(r.exitCode, args.join(" ")).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES].exit);
    }
  });
});
