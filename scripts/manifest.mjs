// Writes oclif.manifest.json after the build: the list of commands with their flags and
// help, so that `boot-meta X` imports only command X instead of every command (the CLI
// starts several times faster). Run by `npm run build`; what `oclif manifest` does.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Plugin } from "@oclif/core";

const root = join(import.meta.dirname, "..");
const file = join(root, "oclif.manifest.json");
// The root plugin alone, told to ignore the manifest it would otherwise read back (Config.load
// does not pass ignoreManifest on to it): what `oclif manifest` does.
const plugin = new Plugin({ root, type: "core", isRoot: true, ignoreManifest: true, errorOnManifestCreate: true });
await plugin.load();
const manifest = plugin.manifest;
if (!manifest || Object.keys(manifest.commands).length === 0) {
  console.error("manifest: no commands found in dist/bundle/commands; is the build complete?");
  process.exit(1);
}
writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
