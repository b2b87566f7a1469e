import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type * as entry from "../src/entry.js";
import type * as api from "../src/index.js";
import { ensureBuilt } from "./helpers/build.js";

/** The package as a user imports it: by name, through package.json's exports, from dist/. */
const ROOT = join(import.meta.dirname, "..");
const importByName = (code: string) => execFileSync(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT, encoding: "utf8" });

/** true only if A and B are the same type (not merely assignable either way). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** true only if modules A and B export the same names, each with the same type (a `const` and a `function` of one type are alike). */
type SameExports<A, B> = Same<keyof A, keyof B> extends true ? (false extends { [K in keyof A & keyof B]: Same<A[K], B[K]> }[keyof A & keyof B] ? false : true) : false;

describe("the public API", () => {
  it("boot-meta, boot-meta/records and boot-meta/openfeature resolve by name, and export what the README shows", () => {
    ensureBuilt();
    const main = JSON.parse(importByName('const m = await import("boot-meta"); console.log(JSON.stringify(Object.keys(m).sort()))')) as string[];
    expect(main).toEqual(expect.arrayContaining(["loadConfig", "encrypt", "decrypt", "accessCheck", "addKey", "BootMetaError", "loadFlags", "evaluateFlag", "FlagSet"]));
    // Plumbing is not public: the git gateway and the commit builder stay inside.
    expect(main).not.toContain("Git");
    expect(main).not.toContain("commitChanges");
    const records = JSON.parse(importByName('const m = await import("boot-meta/records"); console.log(JSON.stringify(Object.keys(m).sort()))')) as string[];
    expect(records).toEqual(expect.arrayContaining(["createRelease", "listReleases", "promoteChannel", "showChannel", "rollbackChannel", "addBinary", "binaryWhich", "binaryVerify", "reportInstance", "listInstances", "rolloutOf"]));
    // The OpenFeature provider is a subpath of its own: the main entry does not load the SDK.
    const openfeature = JSON.parse(importByName('const m = await import("boot-meta/openfeature"); console.log(JSON.stringify(Object.keys(m).sort()))')) as string[];
    expect(openfeature).toEqual(["BootMetaProvider"]);
    expect(main).not.toContain("BootMetaProvider");
  });

  it("the package runs src/entry.ts: index.ts's names, with index.ts's types, its functions working through the bundle", async () => {
    // Checked by the compiler (npm run typecheck): the entry exports every value index.ts does, each with the same type.
    const sameTypes: SameExports<typeof entry, typeof api> = true;
    expect(sameTypes).toBe(true);
    ensureBuilt();
    const names = (file: string) => JSON.parse(importByName(`console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(file)})).sort()))`)) as string[];
    expect(names("boot-meta")).toEqual(names(join(ROOT, "dist/index.js")));
    // A function whose module loads on its first call works, and fails, as the module's own does.
    const out = importByName(`
      const m = await import("boot-meta");
      const { identity, recipient } = await m.generateAgeKey();
      const text = await m.encrypt("a: 1\\n", { format: "yaml", recipients: [recipient] });
      const back = await m.decrypt(text, { format: "yaml", identities: [identity] });
      const failed = await m.listKeys("/nonexistent/boot-meta-api-test").then(() => "resolved", (e) => e instanceof m.BootMetaError ? e.code : String(e));
      console.log(JSON.stringify({ back, failed }));`);
    expect(JSON.parse(out)).toEqual({ back: "a: 1\n", failed: "META_NOT_A_REPO" });
  });

  it("an opened file's data key is not in the published types", () => {
    ensureBuilt();
    const dts = readFileSync(join(ROOT, "dist/sops/engine.d.ts"), "utf8");
    expect(dts).toMatch(/interface OpenedFile/);
    expect(dts).not.toMatch(/\bdataKey\b/);
  });
});
