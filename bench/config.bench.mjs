// Startup cost of a service: loadConfig of a 3-layer config (defaults ← dev ← dev/alice)
// in-process, against the floor of reading the same three files without decrypting them
// (fs.readFile of the work-tree copies).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { loadConfig } from "../dist/config/loader.js";
import { runDemo } from "../dist/demo/demo.js";
import { parseIdentityFile } from "../dist/sops/identities.js";
import { identitySetFrom } from "../dist/sops/identities.js";
import { fmtMs, measure, mem, table } from "./harness.mjs";

const root = mkdtempSync(join(tmpdir(), "boot-meta-bench-"));
try {
  const demo = await runDemo(join(root, "meta"));
  const ids = await identitySetFrom(parseIdentityFile(readFileSync(demo.identities.alice, "utf8"), "alice"));
  const files = ["shop/config.sops.yaml", "shop/envs/dev/config.sops.yaml", "shop/envs/dev/alice/config.sops.yaml"].map((f) => join(demo.dir, f));
  const load = () => loadConfig({ repo: demo.dir, project: "shop", env: "dev/alice", identities: ids, environment: {} });
  const floor = () => Promise.all(files.map((f) => readFile(f)));
  const c = await load();
  if (c.config.log?.level !== "debug") throw new Error("unexpected config");
  const r = await measure({ loadConfig: load, floor }, { rounds: 11 });
  console.log("loadConfig of shop dev/alice (3 layers, decrypted with alice's key), median per load:");
  table([
    ["contender", "time", "ratio"],
    ["loadConfig (git cat-file + decrypt + merge)", fmtMs(r.loadConfig), `${(r.loadConfig / r.floor).toFixed(1)}× the floor`],
    ["floor: read the 3 files, no git, no decryption", fmtMs(r.floor), "1.0"],
  ]);
  console.log(`memory after: ${mem()}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
