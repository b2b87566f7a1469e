import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { commandContract } from "../../src/cli/contract.js";
import { ensureBuilt } from "../helpers/build.js";

// STYLE.md "The CLI contract is checked in": every command's arguments and flags (names, kinds,
// accepted values, defaults) as oclif's manifest has them, in test/contract/commands.json. A
// change to them fails here until the snapshot is rewritten on purpose — `npm run
// contract:update` — so that it shows in review.

it("every command's arguments and flags are as checked in (npm run contract:update after a deliberate change)", async () => {
  ensureBuilt();
  const manifest = JSON.parse(readFileSync(join(import.meta.dirname, "../../oclif.manifest.json"), "utf8"));
  const ids = Object.keys(manifest.commands).sort();
  const snapshot = Object.fromEntries(ids.map((id) => [id.replaceAll(":", " "), commandContract(manifest.commands[id])]));
  await expect(`${JSON.stringify(snapshot, null, 2)}\n`).toMatchFileSnapshot("commands.json");
});
