// access history over a long history (issue 14: "what could this key read, and since when",
// and the brief's "fast: walk trees by object id, cache per blob id").
//
// A meta repo of COMMITS commits after a root holding FILES encrypted files that bob and admin
// read (real sops files, made here with boot-meta's engine), 3 projects' releases growing
// beside them: each commit changes one config file (to another real encrypted version) and
// adds one release record, as a busy repo does. Timed, side by side:
//   boot-meta accessHistory(bob): every file and encrypted value bob's key opened, with first
//     and last commit and what the rules said, in-process;
//   stock git: `git grep -l BOB_RECIPIENT` over every commit in one process — only which
//     files name the key at which commit (no values, no rules, no first/last), the least a
//     script would need.
// Environment: COMMITS (default 1000), FILES (default 100), ROUNDS (default 3).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { accessHistory } from "../dist/meta/access-history.js";
import { withBinding } from "../dist/meta/binding.js";
import { encryptBytes } from "../dist/sops/engine.js";
import { median, table } from "./harness.mjs";

const COMMITS = Number(process.env.COMMITS ?? 1000);
const FILES = Number(process.env.FILES ?? 100);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const root = mkdtempSync(join(tmpdir(), "boot-meta-history-bench-"));
const dir = join(root, "meta");
const env = { ...process.env, GIT_CONFIG_NOSYSTEM: "1", HOME: root, GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@invalid", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@invalid" };
const git = (args) => execFileSync("git", args, { cwd: dir, env, encoding: "utf8", maxBuffer: 1 << 28 }).trim();

try {
  const t0 = performance.now();
  const admin = await identityToRecipient(await generateIdentity());
  const bob = await identityToRecipient(await generateIdentity());
  const projects = ["shop", "billing", "search"];
  const pathOf = (i) => `${projects[i % 3]}/envs/dev/service-${String(i).padStart(4, "0")}.sops.yaml`;
  const version = async (i, v) => {
    const path = pathOf(i);
    const plain = `service: s${i}\nversion: ${v}\ndatabase:\n  url: postgres://db-${i}/app\n  password: pw-${i}-${v}\napi_key: key-${i}-${v}\n`;
    return encryptBytes(Buffer.from(plain), { format: "yaml", keyGroups: [[admin, bob].sort()], path, transform: (t) => withBinding(t, path) });
  };
  const out = [];
  const put = (path, data) => out.push(Buffer.from(`M 100644 inline ${path}\ndata ${data.length}\n`), Buffer.from(data), Buffer.from("\n"));
  const commit = (n) => out.push(Buffer.from(`commit refs/heads/main\ncommitter bench <bench@invalid> ${1764000000 + n * 60} +0000\ndata 2\n${n % 10}\n`));
  execFileSync("git", ["init", "-q", "-b", "main", dir], { env });
  commit(0);
  put(".boot-meta.yaml", "version: 1\ngroups:\n  admins: [admin]\n  developers: [bob]\naccess:\n  project: [admins, developers]\n  envs:\n    dev: [admins, developers]\n    '*': [admins]\n");
  put("keys/admin.txt", `# admin\n${admin}\n`);
  put("keys/bob.txt", `# bob\n${bob}\n`);
  for (const p of projects) put(`${p}/project.yaml`, `name: ${p}\nrepos: []\nowners: []\n`);
  for (let i = 0; i < FILES; i++) put(pathOf(i), await version(i, 0));
  for (let n = 1; n <= COMMITS; n++) {
    commit(n);
    put(pathOf(n % FILES), await version(n % FILES, n));
    const p = projects[n % 3];
    put(`${p}/releases/2025/${String(1 + (n % 12)).padStart(2, "0")}/r${String(n).padStart(6, "0")}.json`, `{"id":"r${n}","project":"${p}"}\n`);
  }
  await new Promise((res, rej) => {
    const fi = spawn("git", ["fast-import", "--quiet"], { cwd: dir, env, stdio: ["pipe", "inherit", "inherit"] });
    fi.on("error", rej);
    fi.on("close", (code) => (code === 0 ? res() : rej(new Error(`git fast-import exited ${code}`))));
    fi.stdin.end(Buffer.concat(out));
  });
  git(["repack", "-adq"]);
  console.log(`repo: ${COMMITS + 1} commits, ${FILES} files bob reads (each changed ~${Math.round(COMMITS / FILES)} times), ${COMMITS} release records; built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const ours = [];
  const stock = [];
  let result;
  let grepHits = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now();
    result = await accessHistory(dir, "bob");
    ours.push(performance.now() - t);
    t = performance.now();
    const revs = git(["rev-list", "HEAD"]).split("\n");
    const g = execFileSync("git", ["grep", "-l", "-F", bob, ...revs], { cwd: dir, env, encoding: "utf8", maxBuffer: 1 << 28 });
    stock.push(performance.now() - t);
    grepHits = g.split("\n").filter((l) => l !== "").length;
  }
  if (result.files.length !== FILES || result.commits !== COMMITS + 1) throw new Error(`access history found ${result.files.length} files in ${result.commits} commits`);
  const values = result.files.reduce((n, f) => n + f.values.length, 0);
  const a = median(ours);
  const b = median(stock);
  table([
    ["contender", "time", "what it answers"],
    ["boot-meta access history bob", `${(a / 1000).toFixed(2)} s`, `${result.files.length} files, ${values} value paths, first/last commit, rules vs keys`],
    ["git grep -l KEY over every commit (one process)", `${(b / 1000).toFixed(2)} s`, `${grepHits} commit:path lines, nothing more`],
  ]);
  console.log(`ratio: access history takes ${(a / b).toFixed(2)}× the time of git grep; load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${availableParallelism()} cores`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
