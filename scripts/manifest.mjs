// Writes oclif.manifest.json after the build: the list of commands with their flags and
// help, so that `boot-meta X` imports only command X instead of every command (the CLI
// starts several times faster). Run by `npm run build`; what `oclif manifest` does.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Config } from "@oclif/core";

const root = join(import.meta.dirname, "..");
const file = join(root, "oclif.manifest.json");
// oclif 4 does not hand `ignoreManifest` down to the root plugin, which would read the old
// manifest back (and a command added since would never appear): remove it first.
rmSync(file, { force: true });
const config = await Config.load({ root, ignoreManifest: true });
const manifest = config.rootPlugin.manifest;
if (!manifest || Object.keys(manifest.commands).length === 0) {
  console.error("manifest: no commands found in dist/commands; is the build complete?");
  process.exit(1);
}
writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
