import { Args } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { type DemoResult, runDemo } from "../meta/demo.js";

export default class Demo extends BaseCommand {
  static override summary = "Create a local demo meta repo and show per-reader isolation working.";
  static override description = "Generates demo-only keys for admin, alice, bob, prod-server and ci, a project with dev, stage, prod and developer folders, config and flags in each, then loads config as each reader: alice reads dev and dev/alice but not prod or dev/bob; the prod server reads prod and nothing of dev.";
  static override examples = ["<%= config.bin %> demo", "<%= config.bin %> demo ./my-demo --json"];
  static override args = { dir: Args.string({ description: "where to create it", default: "./boot-meta-demo" }) };

  async run(): Promise<DemoResult> {
    const { args } = await this.parse(Demo);
    const r = await runDemo(args.dir, (l) => this.note(`  ${l}`));
    this.log(`\nDemo meta repo: ${r.dir}`);
    this.log("Isolation (each reader holds only its own key):");
    for (const c of r.checks) this.log(`  ${c.ok ? "✓" : "✗"} ${c.who.padEnd(12)} ${c.env.padEnd(10)} ${c.detail}`);
    const p = r.provenance;
    this.log(`\nProvenance (binary which ${p.file.slice(r.dir.length + 1)}):`);
    this.log(`  sha256 ${p.sha256}\n  release ${p.release}, on channel(s) ${p.channels.join(", ") || "none"}\n  built from ${p.repos.join(", ")}`);
    this.log(`  stored at (as prod-server) ${p.urlAsProdServer.join(", ")}\n  stored at (as alice)       ${p.urlAsAlice === "sealed" ? "sealed: only prod readers may see it" : p.urlAsAlice.join(", ")}`);
    this.log(`\nTry it:\n  cd ${r.dir}\n  SOPS_AGE_KEY_FILE=.identities/alice.txt boot-meta config show -p ${r.project} -e dev/alice --origin\n  SOPS_AGE_KEY_FILE=.identities/alice.txt boot-meta config show -p ${r.project} -e prod\n  boot-meta access show\n  boot-meta release list ${r.project}\n  boot-meta channel show ${r.project} stable --instance web-1\n  boot-meta instance list ${r.project}\n  SOPS_AGE_KEY_FILE=.identities/prod-server.txt boot-meta binary which ${p.file.slice(r.dir.length + 1)}`);
    return r;
  }
}
