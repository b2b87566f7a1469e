// Startup cost of a service: loadConfig of a 3-layer config (defaults ← dev ← dev/alice)
// in-process, against the floor of reading the same three files without decrypting them
// (fs.readFile of the work-tree copies); then loadConfig from the config service (`boot-meta
// serve` in a process of its own) beside loadConfig from a local clone, in the same rounds.
import { spawn } from "node:child_process";
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
    ["loadConfig (git objects read in-process, decrypt, merge)", fmtMs(r.loadConfig), `${(r.loadConfig / r.floor).toFixed(1)}× the floor`],
    ["floor: read the 3 files, no git, no decryption", fmtMs(r.floor), "1.0"],
  ]);
  console.log(`memory after: ${mem()}`);

  // From the service: warm (its cached ciphertext revalidated, a 304) and cold (a new cache
  // each time: the whole answer), beside the local clone.
  const serve = spawn(process.execPath, [join(import.meta.dirname, "../bin/run.js"), "serve", "--meta", demo.dir, "--listen", "127.0.0.1:0", "--cache-dir", join(root, "serve-cache"), "--log-level", "warn", "--json"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise((resolve, reject) => {
      let buf = "";
      serve.stdout.on("data", (c) => {
        buf += c;
        if (buf.includes("\n")) resolve(JSON.parse(buf.slice(0, buf.indexOf("\n"))).url);
      });
      serve.once("exit", (code) => reject(new Error(`serve exited (${code}) before listening`)));
    });
    const warmCache = join(root, "client-cache");
    let n = 0;
    const fromServer = (cacheDir) => loadConfig({ server: url, project: "shop", env: "dev/alice", identities: ids, cacheDir, environment: {} });
    const same = await fromServer(warmCache);
    if (JSON.stringify(same.config) !== JSON.stringify(c.config)) throw new Error("the service's config differs from the clone's");
    const s = await measure({ clone: load, warm: () => fromServer(warmCache), cold: () => fromServer(join(root, `cold-${n++}`)) }, { rounds: 11 });
    console.log("\nloadConfig from the config service (another process on this machine) beside a local clone, median per load:");
    table([
      ["contender", "time", "ratio"],
      ["local clone (git objects, decrypt, merge)", fmtMs(s.clone), "1.0"],
      ["service, cached ciphertext revalidated (304)", fmtMs(s.warm), `${(s.warm / s.clone).toFixed(2)}× the clone`],
      ["service, no cache (full answer, written to the cache)", fmtMs(s.cold), `${(s.cold / s.clone).toFixed(2)}× the clone`],
    ]);
  } finally {
    serve.kill("SIGTERM");
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
