// A meta repo with 100,000 releases and 100,000 binaries (built with git fast-import, one
// release every 20 minutes over almost four years), then the lookups people and machines
// make: in-process through the library, beside reading one record by its path (the floor of
// any lookup: one git process); and as CLI processes, beside a bare `node -e 0`.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { Git } from "../dist/meta/git.js";
import { binaryWhich } from "../dist/records/binaries.js";
import { showChannel } from "../dist/records/channels.js";
import { getRelease, listReleases } from "../dist/records/releases.js";
import { withReader } from "../dist/records/files.js";
import { fmtMs, measure, mem, table } from "./harness.mjs";

const N = Number(process.env.RECORDS ?? 100_000);
const root = mkdtempSync(join(tmpdir(), "boot-meta-records-bench-"));
const dir = join(root, "meta");
try {
  execFileSync("git", ["init", "-q", "-b", "main", dir]);
  const t0 = Date.now();
  const fi = spawn("git", ["fast-import", "--quiet"], { cwd: dir, stdio: ["pipe", "inherit", "inherit"] });
  const out = [];
  const blob = (path, obj) => {
    const data = Buffer.from(`${JSON.stringify(obj, null, 2)}\n`);
    out.push(`M 100644 inline ${path}\ndata ${data.length}\n`, data, "\n");
  };
  out.push("commit refs/heads/main\ncommitter bench <bench@invalid> 1764000000 +0000\ndata 5\nbench\n");
  blob("shop/project.yaml", { name: "shop" });
  const commit = "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c";
  let lastRelease = "";
  let aDigest = "";
  for (let i = 0; i < N; i++) {
    // One release every 20 minutes: 100,000 of them span almost four years (48 month shards).
    const at = new Date(Date.UTC(2023, 0, 1) + i * 20 * 60_000);
    const t = at.toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
    const id = `${t}-1.0.${i}`;
    lastRelease = id;
    blob(`shop/releases/${t.slice(0, 4)}/${t.slice(4, 6)}/${id}.json`, { id, project: "shop", version: `1.0.${i}`, repos: [{ name: "app", commit }], createdAt: at.toISOString() });
    const sha = createHash("sha256").update(String(i)).digest("hex");
    if (i === Math.floor(N / 2)) aDigest = sha;
    blob(`shop/binaries/${sha.slice(0, 2)}/${sha}.json`, { sha256: sha, size: "1000", os: "linux", arch: "amd64", project: "shop", releaseId: id, urls: [`s3://b/${sha}`], createdAt: t });
    blob(`binaries/${sha.slice(0, 2)}/${sha}.json`, { sha256: sha, project: "shop" });
    if (out.length > 30_000) fi.stdin.write(Buffer.concat(out.splice(0).map((x) => (typeof x === "string" ? Buffer.from(x) : x))));
  }
  blob("shop/channels/stable.json", { project: "shop", name: "stable", releaseId: lastRelease, updatedAt: "2026-01-01T00:00:00Z" });
  fi.stdin.end(Buffer.concat(out.map((x) => (typeof x === "string" ? Buffer.from(x) : x))));
  await new Promise((r) => fi.on("close", r));
  execFileSync("git", ["reset", "-q", "--soft", "main"], { cwd: dir });
  console.log(`built a meta repo with ${N.toLocaleString()} releases and ${N.toLocaleString()} binaries in ${((Date.now() - t0) / 1000).toFixed(1)} s (not checked out: the library reads from git objects)`);

  const git = await Git.at(dir);
  const head = await git.resolve("HEAD");
  const floor = () => git.readFile(`shop/binaries/${aDigest.slice(0, 2)}/${aDigest}.json`, head);
  const r = await measure(
    {
      "binary which <digest>": () => binaryWhich(dir, aDigest),
      "channel show": () => showChannel(dir, "shop", "stable"),
      "release list --limit 20": () => listReleases(dir, "shop", { limit: 20 }),
      "release show <version>": () => withReader(dir, undefined, (r) => getRelease(r, "shop", `1.0.${N - 5}`)),
      "floor: read one record by path": floor,
    },
    { rounds: 7, minMs: 100 },
  );
  table([
    ["lookup", "median", "vs floor"],
    ...Object.entries(r).map(([k, v]) => [k, fmtMs(v), `${(v / r["floor: read one record by path"]).toFixed(1)}×`]),
  ]);
  console.log(`memory after the lookups: ${mem()} (this process also generated the repo: the peak rss of a CLI process, below, is what a user sees)`);

  // The same lookups as a user runs them: one `boot-meta` process per command, beside a bare
  // Node process that does nothing (the start-up no CLI written in Node can avoid).
  const hook = join(import.meta.dirname, "maxrss.mjs");
  const bin = join(import.meta.dirname, "..", "bin", "run.js");
  const peak = {};
  const proc = (name, args) => () => {
    const r = spawnSync(process.execPath, ["--import", hook, ...args], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
    peak[name] = Number(/bench-maxrss-kib (\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024;
  };
  const cli = {
    "boot-meta binary which <digest>": proc("boot-meta binary which <digest>", [bin, "binary", "which", aDigest, "--json", "--meta", dir]),
    "boot-meta channel show": proc("boot-meta channel show", [bin, "channel", "show", "shop", "stable", "--json", "--meta", dir]),
    "boot-meta release list --limit 20": proc("boot-meta release list --limit 20", [bin, "release", "list", "shop", "--limit", "20", "--json", "--meta", dir]),
    "baseline: node -e 0": proc("baseline: node -e 0", ["-e", "0"]),
  };
  const c = await measure(cli, { rounds: 5, minMs: 100 });
  table([
    ["command (a new process each)", "median", "vs node -e 0", "peak rss"],
    ...Object.entries(c).map(([k, v]) => [k, fmtMs(v), `${(v / c["baseline: node -e 0"]).toFixed(1)}×`, `${peak[k].toFixed(0)} MiB`]),
  ]);
} finally {
  rmSync(root, { recursive: true, force: true });
}
