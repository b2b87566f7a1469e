import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { versionLine } from "../../src/cli/version.js";
import { tempDir } from "../helpers/gitdir.js";

/** A package root with this oclif section, and plugins installed under node_modules. */
function root(oclif: object, plugins: Record<string, object | undefined> = {}): string {
  const dir = tempDir("boot-meta-version-");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "boot-meta", version: "9.8.7", oclif }));
  for (const [name, hooks] of Object.entries(plugins)) {
    mkdirSync(join(dir, "node_modules", name), { recursive: true });
    if (hooks) writeFileSync(join(dir, "node_modules", name, "package.json"), JSON.stringify({ name, version: "1.0.0", oclif: { hooks } }));
  }
  return dir;
}

// bin/run.js answers --version itself only when oclif would print the same line; the line
// itself is held to oclif's in test/cli/entry.test.ts.
describe("the --version line printed without oclif", () => {
  it("is oclif's userAgent for --version and the extra version flags, and nothing else", () => {
    const dir = root({ additionalVersionFlags: ["-v"] });
    const line = `boot-meta/9.8.7 ${process.platform}-${process.arch} node-${process.version}`;
    expect(versionLine(["--version"], dir)).toBe(line);
    expect(versionLine(["-v"], dir)).toBe(line);
    expect(versionLine(["-V"], dir)).toBeUndefined();
    expect(versionLine(["decrypt", "--version"], dir)).toBeUndefined();
    expect(versionLine([], dir)).toBeUndefined();
  });

  it("leaves the answer to oclif when an init hook, ours or a plugin's, would run first", () => {
    expect(versionLine(["--version"], root({ hooks: { init: "./dist/hooks/init.js" } }))).toBeUndefined();
    expect(versionLine(["--version"], root({ plugins: ["with-init"] }, { "with-init": { init: "./lib/init.js" } }))).toBeUndefined();
    expect(versionLine(["--version"], root({ plugins: ["not-installed"] }, { "not-installed": undefined }))).toBeUndefined();
    expect(versionLine(["--version"], root({ plugins: ["quiet"] }, { quiet: { command_not_found: "./lib/nf.js" } }))).toMatch(/^boot-meta\/9\.8\.7 /);
  });
});
