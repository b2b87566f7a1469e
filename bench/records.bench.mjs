// A meta repo with 100,000 releases and 100,000 binaries (built with git fast-import), then
// the lookups people and machines make, in-process through the library, each beside a
// baseline run in the same process: reading one record by its path with the one git
// module (the floor of any lookup).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { Git } from "../dist/meta/git.js";
import { binaryWhich } from "../dist/records/binaries.js";
import { showChannel } from "../dist/records/channels.js";
import { listReleases } from "../dist/records/releases.js";
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
    const t = new Date(Date.UTC(2020, 0, 1) + i * 60_000).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
    const id = `${t}-1.0.${i}`;
    lastRelease = id;
    blob(`shop/releases/${id}.json`, { id, project: "shop", version: `1.0.${i}`, repos: [{ name: "app", commit }], createdAt: t });
    const sha = createHash("sha256").update(String(i)).digest("hex");
    if (i === Math.floor(N / 2)) aDigest = sha;
    blob(`shop/binaries/${sha}.json`, { sha256: sha, size: "1000", os: "linux", arch: "amd64", project: "shop", releaseId: id, urls: [`s3://b/${sha}`], createdAt: t });
    blob(`binaries/${sha}.json`, { sha256: sha, project: "shop" });
    if (out.length > 30_000) fi.stdin.write(Buffer.concat(out.splice(0).map((x) => (typeof x === "string" ? Buffer.from(x) : x))));
  }
  blob("shop/channels/stable.json", { project: "shop", name: "stable", releaseId: lastRelease, updatedAt: "2026-01-01T00:00:00Z" });
  fi.stdin.end(Buffer.concat(out.map((x) => (typeof x === "string" ? Buffer.from(x) : x))));
  await new Promise((r) => fi.on("close", r));
  execFileSync("git", ["reset", "-q", "--soft", "main"], { cwd: dir });
  console.log(`built a meta repo with ${N.toLocaleString()} releases and ${N.toLocaleString()} binaries in ${((Date.now() - t0) / 1000).toFixed(1)} s (not checked out: the library reads from git objects)`);

  const git = await Git.at(dir);
  const head = await git.resolve("HEAD");
  const floor = () => git.readFile(`shop/binaries/${aDigest}.json`, head);
  const r = await measure(
    {
      "binary which <digest>": () => binaryWhich(dir, aDigest),
      "channel show": () => showChannel(dir, "shop", "stable"),
      "release list --limit 20": () => listReleases(dir, "shop", { limit: 20 }),
      "floor: read one record by path": floor,
    },
    { rounds: 7, minMs: 100 },
  );
  table([
    ["lookup", "median", "vs floor"],
    ...Object.entries(r).map(([k, v]) => [k, fmtMs(v), `${(v / r["floor: read one record by path"]).toFixed(1)}×`]),
  ]);
  console.log(`memory: ${mem()}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
