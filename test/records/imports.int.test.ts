import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { recordsRepo } from "../helpers/records.js";
import { cliWith, err, out } from "../helpers/cli.js";
import { git, gitRepo, tempDir } from "../helpers/gitdir.js";

// The npm side of `imports resolve`, checked by npm itself: what it prints under "dependencies"
// is installed by a real `npm install` (offline: a git dependency on disk needs no registry).

const cli = cliWith();

function commitFile(dir: string, file: string, text: string): string {
  writeFileSync(join(dir, file), text);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", `${file}: ${text.trim()}`);
  return git(dir, "rev-parse", "HEAD");
}

describe("imports resolve --format npm", () => {
  it("prints dependencies npm installs, at the pinned commit and not the repo's newest", async () => {
    const ui = gitRepo({ empty: true });
    commitFile(ui, "package.json", `${JSON.stringify({ name: "@org/ui", version: "0.0.0", main: "index.js" })}\n`);
    const pinned = commitFile(ui, "index.js", "module.exports = 'pinned';\n");
    commitFile(ui, "index.js", "module.exports = 'newer';\n");

    const meta = await recordsRepo();
    const set = await cli(["imports", "set", "-p", "shop", "--channel", "stable", "@org/ui", "--commit", `file://${ui}@${pinned}`, "--meta", meta]);
    expect(set.exitCode, err(set)).toBe(0);
    const r = await cli(["imports", "resolve", "-p", "shop", "--channel", "stable", "--format", "npm", "--meta", meta]);
    expect(r.exitCode, err(r)).toBe(0);
    const dependencies = JSON.parse(out(r));
    expect(dependencies).toEqual({ "@org/ui": `git+file://${ui}#${pinned}` });

    const app = tempDir("boot-meta-npm-app-");
    const home = join(app, ".home");
    mkdirSync(home);
    writeFileSync(join(app, "package.json"), `${JSON.stringify({ name: "app", version: "1.0.0", private: true, dependencies })}\n`);
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], {
      cwd: app,
      env: { ...process.env, HOME: home, npm_config_cache: join(home, ".npm"), npm_config_update_notifier: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(readFileSync(join(app, "node_modules/@org/ui/index.js"), "utf8")).toBe("module.exports = 'pinned';\n");
    expect(JSON.parse(readFileSync(join(app, "package-lock.json"), "utf8")).packages["node_modules/@org/ui"].resolved).toBe(`git+file://${ui}#${pinned}`);
  });
});
