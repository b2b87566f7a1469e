#!/usr/bin/env node
// Prints the README's table of error codes from the catalogue (src/error-codes.ts, built to
// dist/): `node scripts/errors-table.mjs`. A test holds the README to it.
const { ERROR_CODES } = await import(new URL("../dist/error-codes.js", import.meta.url).href);
const rows = Object.entries(ERROR_CODES).sort(([a], [b]) => (a < b ? -1 : 1));
console.log("| code | exit | meaning |\n| --- | --- | --- |");
for (const [code, { exit, meaning }] of rows) console.log(`| \`${code}\` | ${exit} | ${meaning.replaceAll("|", "\\|")} |`);
