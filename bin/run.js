#!/usr/bin/env node
// Start-up (README "Start-up"): `--version` is answered without loading oclif when nothing
// could change oclif's answer, and everything else runs from the bundle (dist/bundle/cli.js),
// which holds oclif, the commands and their dependencies in a few files.
import { fileURLToPath } from "node:url";

const { versionLine } = await import("../dist/cli/version.js");
const version = versionLine(process.argv.slice(2), fileURLToPath(new URL("..", import.meta.url)));
if (version !== undefined) process.stdout.write(`${version}\n`);
else {
  const { flush, handle, redactError, run } = await import("../dist/bundle/cli.js");
  // execute() without its catch-all: errors oclif raises before a command runs ("command X not
  // found") quote argv, so they are redacted like every other error (dist/redact.js).
  await run(process.argv.slice(2), import.meta.url).then(
    () => flush(),
    async (err) => handle(redactError(err)),
  );
}
