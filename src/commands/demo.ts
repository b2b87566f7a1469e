import { realpathSync } from "node:fs";
import { delimiter, join, relative } from "node:path";
import { Args } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { type DemoResult, demoHints, runDemo } from "../demo/demo.js";
import { shellQuote } from "../sops/shell.js";

export default class Demo extends BaseCommand {
  static override summary = "Create a local demo meta repo and show per-reader isolation working.";
  static override description =
    "Generates demo-only keys for admin, alice, bob, prod-server and ci, a project with dev, stage, prod and developer folders, config and flags in each, then loads config as each reader: alice reads dev and dev/alice but not prod or dev/bob; the prod server reads prod and nothing of dev. Ends with commands to try, each of which runs as printed.";
  static override examples = ["<%= config.bin %> demo", "<%= config.bin %> demo ./my-demo --json"];
  static override args = { dir: Args.string({ description: "where to create it", default: "./boot-meta-demo" }) };

  async run(): Promise<DemoResult & { hints: string[] }> {
    const { args } = await this.parse(Demo);
    const r = await runDemo(args.dir, (l) => this.note(`  ${l}`));
    this.log(`\nDemo meta repo: ${r.dir}`);
    this.log("Isolation (each reader holds only its own key):");
    for (const c of r.checks) this.log(`  ${c.ok ? "✓" : "✗"} ${c.who.padEnd(12)} ${c.env.padEnd(10)} ${c.detail}`);
    const p = r.provenance;
    this.log(`\nProvenance (binary which ${relative(r.dir, p.file)}):`);
    this.log(`  sha256 ${p.sha256}\n  release ${p.release}, on channel(s) ${p.channels.join(", ") || "none"}\n  built from ${p.repos.join(", ")}`);
    this.log(`  stored at (as prod-server) ${p.urlAsProdServer.join(", ")}\n  stored at (as alice)       ${p.urlAsAlice === "sealed" ? "sealed: only prod readers may see it" : p.urlAsAlice.join(", ")}`);
    const cli = shellCommand();
    const hints = demoHints(r, cli);
    this.log(`\nTry it:\n${hints.map((h) => `  ${h}`).join("\n")}`);
    if (cli !== "boot-meta") this.log(`(boot-meta is not on your PATH, so these run it with node: \`npm link\` in ${shellQuote(packageRoot())} puts it there; see the README)`);
    return { ...r, hints };
  }
}

/**
 * How a shell runs this very boot-meta: `boot-meta` when PATH finds this installation, else
 * node with the full path. Under npm (npx, npm run) PATH is npm's own, not the user's shell's.
 */
function shellCommand(): string {
  const self = realpathSync(process.argv[1] as string);
  if (process.env.npm_command === undefined) {
    for (const dir of (process.env.PATH ?? "").split(delimiter)) {
      if (dir === "") continue;
      try {
        if (realpathSync(join(dir, "boot-meta")) === self) return "boot-meta";
      } catch {
        /* not in this directory */
      }
    }
  }
  return `node ${shellQuote(self)}`;
}

function packageRoot(): string {
  return join(realpathSync(process.argv[1] as string), "..", "..");
}
