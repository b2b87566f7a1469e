#!/usr/bin/env node
import { flush, handle, run } from "@oclif/core";

// execute() without its catch-all: errors oclif raises before a command runs ("command X not
// found") quote argv, so they are redacted like every other error (dist/redact.js).
await run(process.argv.slice(2), import.meta.url).then(
  () => flush(),
  async (err) => handle((await import("../dist/redact.js")).redactError(err)),
);
