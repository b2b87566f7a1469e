import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type * as entry from "../src/entry.js";
import type * as api from "../src/index.js";
import { setConfigValue } from "../src/config/edit.js";
import { addKey, createEnv, createProject, initRepo } from "../src/meta/repo.js";
import { generateAgeKey } from "../src/sops/age.js";
import { identitySetFrom } from "../src/sops/identities.js";
import { ensureBuilt } from "./helpers/build.js";
import { tempDir } from "./helpers/gitdir.js";

/** The package as a user imports it: by name, through package.json's exports, from dist/. */
const ROOT = join(import.meta.dirname, "..");
const importByName = (code: string) => execFileSync(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT, encoding: "utf8" });

/** true only if A and B are the same type (not merely assignable either way). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** true only if modules A and B export the same names, each with the same type (a `const` and a `function` of one type are alike). */
type SameExports<A, B> = Same<keyof A, keyof B> extends true ? (false extends { [K in keyof A & keyof B]: Same<A[K], B[K]> }[keyof A & keyof B] ? false : true) : false;

/** A meta repo with one value in shop/prod, readable by a key made here. */
async function metaRepo(): Promise<{ dir: string; meta: string; key: { identity: string; recipient: string } }> {
  const dir = tempDir("boot-meta-entry-");
  const meta = join(dir, "meta");
  const key = await generateAgeKey();
  const ids = await identitySetFrom([key.identity]);
  await initRepo(meta);
  await addKey(meta, "svc", [key.recipient], { group: "admins", identities: ids });
  await createProject(meta, "shop");
  await createEnv(meta, "shop", "prod");
  await setConfigValue(meta, { project: "shop", env: "prod" }, "port", 8080n, { identities: ids });
  return { dir, meta, key };
}

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

  it("import(\"boot-meta\") and a first loadConfig load one chunk of the bundle, and no package, no writer, no flags", async () => {
    ensureBuilt();
    const { dir, meta, key } = await metaRepo();
    // Every module the ES loader resolves, logged by a resolve hook; the CommonJS ones are in require.cache.
    const log = join(dir, "resolved.txt");
    writeFileSync(join(dir, "hooks.mjs"), `import { appendFileSync } from "node:fs";\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + "\\n"); return r; }\n`);
    writeFileSync(join(dir, "register.mjs"), `import { register } from "node:module";\nregister(${JSON.stringify(`file://${join(dir, "hooks.mjs")}`)});\n`);
    writeFileSync(log, "");
    const out = execFileSync(process.execPath, ["--import", join(dir, "register.mjs"), "--input-type=module", "-e", `
      import { createRequire } from "node:module";
      const { loadConfig } = await import("boot-meta");
      const c = await loadConfig({ repo: ${JSON.stringify(meta)}, project: "shop", env: "prod", identities: [${JSON.stringify(key.identity)}] });
      console.log(JSON.stringify({ config: c.config, required: Object.keys(createRequire(import.meta.url).cache) }));`], { cwd: ROOT, encoding: "utf8" });
    const { config, required } = JSON.parse(out) as { config: unknown; required: string[] };
    expect(config).toEqual({ port: 8080 });
    const ours = readFileSync(log, "utf8").split("\n").filter((u) => u.startsWith("file:") && !u.startsWith(`file://${dir}`)).map((u) => u.slice(`file://${ROOT}/`.length));
    // The entry compiles its one chunk itself (scripts/library-entry.mjs) and puts it in the
    // CommonJS cache, where the chunks that load later find it: nothing else is loaded.
    expect(ours).toEqual(["dist/bundle/index.js"]);
    expect(required.map((f) => f.slice(ROOT.length + 1))).toEqual([expect.stringMatching(/^dist\/bundle\/lib\/initial-[\w-]+\.cjs$/)]);
    // What the import compiles: none of the code that only writers, access checks, flags or the service's client run.
    const initial = readFileSync(required[0] as string, "utf8");
    for (const fn of ["setConfigValue", "accessCheck", "addKey", "watchConfig", "loadFlags", "flagsFromConfig", "loadFromServer", "cachedClone", "commitChanges"]) expect(initial).not.toMatch(new RegExp(`function ${fn}\\b`));
  });

  it("an opened file's data key is not in the published types", () => {
    ensureBuilt();
    const dts = readFileSync(join(ROOT, "dist/sops/engine.d.ts"), "utf8");
    expect(dts).toMatch(/interface OpenedFile/);
    expect(dts).not.toMatch(/\bdataKey\b/);
  });

  describe("the entry's code cache (scripts/library-entry.mjs)", () => {
    const lib = join(ROOT, "dist/bundle/lib");
    const chunkOf = (dir: string) => join(dir, readdirSync(dir).find((f) => /^initial-[\w-]+\.cjs$/.test(f)) as string);

    it("is made by the build for the library's chunk and bin/run.js's fast path, and this Node's V8 takes both", () => {
      ensureBuilt();
      for (const file of [chunkOf(lib), join(ROOT, "dist/bundle/fast/fast.cjs")]) {
        // Compiled as the loaders compile it, in a process of its own (V8 flags as a service's).
        const out = execFileSync(process.execPath, ["--input-type=module", "-e", `
          import vm from "node:vm";
          import { createHash } from "node:crypto";
          import { readFileSync } from "node:fs";
          import { compileChunk, cachedDataFor } from ${JSON.stringify(join(ROOT, "scripts/library-entry.mjs"))};
          const source = readFileSync(${JSON.stringify(file)});
          const data = cachedDataFor(createHash, source, readFileSync(${JSON.stringify(`${file}.v8cache`)}));
          const script = compileChunk(vm, source.toString("latin1"), ${JSON.stringify(file)}, data);
          console.log(JSON.stringify({ offered: data !== undefined, rejected: script.cachedDataRejected }));`], { encoding: "utf8" });
        expect(JSON.parse(out), file).toEqual({ offered: true, rejected: false });
        // ASCII, so the loaders read it as one-byte text.
        expect(readFileSync(file).every((b) => b < 0x80), file).toBe(true);
        // Code, not what the warm-up read: no key of its, no value of its config, not its folder.
        const cache = readFileSync(`${file}.v8cache`).toString("latin1");
        expect(cache).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{50}|postgres:\/\/db\/shop|boot-meta-code-cache-/);
      }
    });

    it("is not offered for other bytes than the chunk's, and the entry loads the same without it", async () => {
      ensureBuilt();
      const { dir, meta, key } = await metaRepo();
      const load = (entry: string) =>
        JSON.parse(
          execFileSync(process.execPath, ["--input-type=module", "-e", `
            const m = await import(${JSON.stringify(entry)});
            const c = await m.loadConfig({ repo: ${JSON.stringify(meta)}, project: "shop", env: "prod", identities: [${JSON.stringify(key.identity)}] });
            const e = await m.loadConfig({ repo: ${JSON.stringify(meta)}, project: "shop", env: "nope", identities: [${JSON.stringify(key.identity)}] }).catch((e) => e);
            console.log(JSON.stringify({ config: c.config, error: e instanceof m.BootMetaError ? e.code : String(e) }));`], { encoding: "utf8", cwd: dir }),
        ) as unknown;
      const copy = join(dir, "bundle");
      cpSync(join(ROOT, "dist/bundle/index.js"), join(copy, "index.js"));
      cpSync(lib, join(copy, "lib"), { recursive: true });
      writeFileSync(join(copy, "package.json"), '{ "type": "module" }\n');
      const chunk = chunkOf(join(copy, "lib"));
      const expected = { config: { port: 8080 }, error: "CONFIG_NOT_FOUND" };
      expect(load(join(copy, "index.js"))).toEqual(expected);

      // A cache made for other bytes: its first 32 bytes name another chunk.
      const { cachedDataFor } = (await import(join(ROOT, "scripts/library-entry.mjs"))) as { cachedDataFor: (h: typeof createHash, s: Buffer, c: Buffer) => Buffer | undefined };
      const cache = readFileSync(`${chunk}.v8cache`);
      const source = readFileSync(chunk);
      expect(cachedDataFor(createHash, source, cache)).toBeDefined();
      const other = Buffer.from(source);
      other[other.length - 2] = 0x20; // the same length, one byte changed
      expect(cachedDataFor(createHash, other, cache)).toBeUndefined();
      expect(cachedDataFor(createHash, source, cache.subarray(0, 32))).toBeUndefined();

      // No cache at all (a build that could not make one): the same answers.
      rmSync(`${chunk}.v8cache`);
      expect(load(join(copy, "index.js"))).toEqual(expected);
    });
  });
});
