import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The README's architecture holds: a folder imports only from folders below it. Ranks, top
 * first; config and records are side by side and import neither each other. flags sits between
 * them and server/demo: it builds on config's loader and write path (and may read records for
 * the evaluation context), while the service's OFREP routes and the demo will evaluate flags.
 */
const SRC = join(import.meta.dirname, "../src");
const RANK: Record<string, number> = { index: 7, commands: 6, cli: 6, demo: 5, server: 5, agent: 4.6, flags: 4.5, config: 4, records: 4, meta: 3, sops: 2, ssh: 1, "": 0 };

function folderOf(file: string): string {
  const rel = relative(SRC, file);
  // src/index.ts is the public API: it re-exports from every folder.
  if (rel === "index.ts") return "index";
  return rel.includes("/") ? (rel.split("/")[0] as string) : "";
}

describe("the direction of imports", () => {
  it("every import in src/ points to its own folder or one below it", () => {
    const files = readdirSync(SRC, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts")).map((f) => join(SRC, f));
    const wrong: string[] = [];
    for (const file of files) {
      const from = folderOf(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:from|import\()\s*"(\.{1,2}\/[^"]+)"/g)) {
        const to = folderOf(resolve(file, "..", m[1] as string));
        if (to === from) continue;
        const ok = (RANK[to] ?? 99) < (RANK[from] ?? -1) || (from === "commands" && to === "cli") || (from === "cli" && to === "commands");
        if (!ok) wrong.push(`${relative(SRC, file)} imports ${m[1]}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
