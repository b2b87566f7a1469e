#!/usr/bin/env node
"use strict";
// Start-up (README "Start-up"). This file is CommonJS (bin/package.json) so that what needs no
// oclif starts without Node's ES module loader: `--version`, answered when nothing could change
// oclif's answer, the common forms of `decrypt` and the git drivers (src/cli/fast-path.ts: it hands back anything
// it does not understand exactly; BOOT_META_NO_FAST_PATH=1 turns it off), both from
// dist/bundle/fast/ — fast.cjs loaded with the V8 code cache the build made for it
// (dist/bundle/cached.cjs; scripts/library-entry.mjs says why). Everything else runs from the
// bundle (dist/bundle/cli.js), which holds oclif, the commands and their dependencies in a few files.
const { join } = require("node:path");

const argv = process.argv.slice(2);
const root = join(__dirname, "..");

async function main() {
  const version = require("../dist/bundle/fast/version.cjs").versionLine(argv, root);
  if (version !== undefined) return void process.stdout.write(`${version}\n`);
  const fast = () => require("../dist/bundle/cached.cjs")(join(root, "dist/bundle/fast/fast.cjs"));
  if (argv[0] === "decrypt" && (await fast().fastPath(argv, root))) return;
  if (argv[0] === "git" && (await fast().gitDriverFastPath(argv, root))) return;
  const { flush, handle, redactError, run } = await import("../dist/bundle/cli.js");
  // execute() without its catch-all: errors oclif raises before a command runs ("command X not
  // found") quote argv, so they are redacted like every other error (dist/redact.js).
  // oclif finds its package.json upward from the path it is given: from the root, not from here,
  // where bin/package.json would be the first.
  await run(argv, root).then(
    () => flush(),
    async (err) => handle(redactError(err)),
  );
}
void main();
