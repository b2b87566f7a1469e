import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ensureBuilt } from "./helpers/build.js";

/** The package as a user imports it: by name, through package.json's exports, from dist/. */
const ROOT = join(import.meta.dirname, "..");
const importByName = (code: string) => execFileSync(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT, encoding: "utf8" });

describe("the public API", () => {
  it("boot-meta, boot-meta/records and boot-meta/openfeature resolve by name, and export what the README shows", () => {
    ensureBuilt();
    const main = JSON.parse(importByName('const m = await import("boot-meta"); console.log(JSON.stringify(Object.keys(m).sort()))')) as string[];
    expect(main).toEqual(expect.arrayContaining(["loadConfig", "encrypt", "decrypt", "accessCheck", "addKey", "BootMetaError", "loadFlags", "evaluateFlag", "FlagSet", "runCaptain"]));
    // Plumbing is not public: the git gateway and the commit builder stay inside.
    expect(main).not.toContain("Git");
    expect(main).not.toContain("commitChanges");
    const records = JSON.parse(importByName('const m = await import("boot-meta/records"); console.log(JSON.stringify(Object.keys(m).sort()))')) as string[];
    expect(records).toEqual(expect.arrayContaining(["createRelease", "listReleases", "promoteChannel", "showChannel", "rollbackChannel", "addBinary", "binaryWhich", "binaryVerify", "reportInstance", "listInstances", "rolloutOf", "approveChannel", "gateState"]));
    // The OpenFeature provider is a subpath of its own: the main entry does not load the SDK.
    const openfeature = JSON.parse(importByName('const m = await import("boot-meta/openfeature"); console.log(JSON.stringify(Object.keys(m).sort()))')) as string[];
    expect(openfeature).toEqual(["BootMetaProvider"]);
    expect(main).not.toContain("BootMetaProvider");
  });

  it("an opened file's data key is not in the published types", () => {
    ensureBuilt();
    const dts = readFileSync(join(ROOT, "dist/sops/engine.d.ts"), "utf8");
    expect(dts).toMatch(/interface OpenedFile/);
    expect(dts).not.toMatch(/\bdataKey\b/);
  });
});
