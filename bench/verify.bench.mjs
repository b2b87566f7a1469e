// Signed history at scale (issue 11: "a repo with 10,000 commits verifies from scratch in
// seconds … that means checking signatures in-process, not one ssh-keygen per commit").
//
// A meta repo of 10,000 commits after its trust root, each signed with git's SSH signing
// format (an SSHSIG over the commit, namespace "git", in a `gpgsig` header, exactly what
// `git commit -S` with gpg.format=ssh writes), by four principals writing where the default
// write rules let them: alice and bob their dev folders and dev, ci releases and channels,
// admin prod and the defaults, over three projects. The trees come from one `git fast-import`;
// the signed commit objects are written here as loose objects (git 2.39's fast-import cannot
// carry a signature), then the repository is packed as a real one would be. A sample of the
// commits is checked with `git verify-commit` first, so the bench times commits stock git
// accepts.
//
// Timed, side by side on the same commits:
//   boot-meta verifyHistory from scratch (no cache): signatures checked in-process, plus the
//     write rules at each parent for every path each commit changes — more than git checks;
//   boot-meta trustedView from scratch (the readers' walk, per-path taint);
//   boot-meta verifyHistory incremental: one new commit on a verified history;
//   stock git: `git verify-commit` (one process, and one ssh-keygen, per commit) and
//     `git log --show-signature` (one git, one ssh-keygen per commit), over a sample of 200
//     commits with boot-meta's allowed_signers, extrapolated to 10,000.
// Environment: COMMITS (default 10000), SAMPLE (default 200).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";
import { allowedSigners } from "../dist/meta/signers.js";
import { trustedView, verifyHistory } from "../dist/meta/verify.js";
import { generateAgeKey } from "../dist/sops/age.js";
import { parseOpenSshPrivateKey, sshSign } from "../dist/ssh/sshsig.js";
import { fmtMs, median, mem, table } from "./harness.mjs";

const N = Number(process.env.COMMITS ?? 10_000);
const SAMPLE = Number(process.env.SAMPLE ?? 200);
/** Commits held back past N, brought in one at a time for the incremental rounds. */
const EXTRA = 5;
const root = mkdtempSync(join(tmpdir(), "boot-meta-verify-bench-"));
const dir = join(root, "meta");
const env = { ...process.env, GIT_CONFIG_NOSYSTEM: "1", HOME: root, GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@invalid", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@invalid" };
const git = (args, input) => execFileSync("git", args, { cwd: dir, env, input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], maxBuffer: 1 << 28 }).trim();

/** Deterministic content: a small xorshift generator, so every run builds the same trees. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
const r = rng(11);
const hex = (n) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join("");
const b64 = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256))).toString("base64");
const sopsish = (keys) => `${Array.from({ length: keys }, (_, i) => `key${i}: ENC[AES256_GCM,data:${b64(24)},iv:${b64(12)},tag:${b64(16)},type:str]`).join("\n")}\nsops:\n    mac: ENC[AES256_GCM,data:${b64(32)},iv:${b64(12)},tag:${b64(16)},type:str]\n    version: 3.9.0\n`;

try {
  // ---- principals: ed25519 keys made here (bench-only) --------------------------------
  const who = ["admin", "alice", "bob", "ci"];
  const keys = {};
  for (const name of who) {
    const file = join(root, `${name}_ed25519`);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@bench (bench-only key)`, "-f", file]);
    keys[name] = parseOpenSshPrivateKey(readFileSync(file, "utf8"), file);
  }

  // ---- trees: one fast-import of the root and N + EXTRA changes ----------------------
  const t0 = performance.now();
  execFileSync("git", ["init", "-q", "-b", "main", dir], { env });
  const projects = ["shop", "billing", "search"];
  const out = [];
  const put = (path, text) => {
    const data = Buffer.from(text);
    out.push(Buffer.from(`M 100644 inline ${path}\ndata ${data.length}\n`), data, Buffer.from("\n"));
  };
  const commitHead = (i) => out.push(Buffer.from(`commit refs/heads/unsigned\nmark :${i + 1}\ncommitter bench <bench@invalid> ${1764000000 + i * 60} +0000\ndata 2\n${i % 10}\n`));
  commitHead(0);
  put(".boot-meta.yaml", "version: 1\ngroups:\n  admins: [admin]\n  developers: [alice, bob]\n  prod-servers: []\n  ci: [ci]\naccess:\n  project: [admins, developers, ci, prod-servers]\n  envs:\n    dev: [admins, developers]\n    dev/*: [admins, $owner]\n    stage: [admins, ci]\n    prod: [admins, prod-servers]\n");
  for (const name of who) put(`keys/${name}.txt`, `# ${name}\n${(await generateAgeKey()).recipient}\n${keys[name].publicLine}\n`);
  for (const p of projects) {
    put(`${p}/project.yaml`, `name: ${p}\nrepos: []\nowners: []\n`);
    put(`${p}/config.sops.yaml`, sopsish(10));
    for (const e of ["dev", "stage", "prod", "dev/alice", "dev/bob"]) put(`${p}/envs/${e}/config.sops.yaml`, sopsish(10));
    put(`${p}/channels/stable.json`, `{"channel":"stable","release":"none"}\n`);
  }
  /** Who writes what, in turn: every change allowed by the default write rules. */
  const plan = [];
  for (let i = 1; i <= N + EXTRA; i++) {
    const p = projects[i % projects.length];
    const k = i % 10;
    if (k < 3) plan.push(["alice", [[`${p}/envs/dev/alice/config.sops.yaml`, sopsish(6)]]]);
    else if (k < 5) plan.push(["bob", [[`${p}/envs/dev/bob/config.sops.yaml`, sopsish(6)], ...(k === 4 ? [[`${p}/envs/dev/config.sops.yaml`, sopsish(10)]] : [])]]);
    else if (k < 8) {
      const month = String(1 + (Math.floor(i / 300) % 12)).padStart(2, "0");
      const id = `2025${month}${String(1 + (i % 28)).padStart(2, "0")}T120000Z-${hex(6)}`;
      const files = [[`${p}/releases/2025/${month}/${id}.json`, `{"id":"${id}","project":"${p}","repos":[{"name":"app","commit":"${hex(40)}"}]}\n`]];
      if (k === 7) files.push([`${p}/channels/stable.json`, `{"channel":"stable","release":"${id}"}\n`]);
      plan.push(["ci", files]);
    } else plan.push(["admin", [[k === 8 ? `${p}/envs/prod/config.sops.yaml` : `${p}/config.sops.yaml`, sopsish(10)]]]);
  }
  for (const [i, [, files]] of plan.entries()) {
    commitHead(i + 1);
    for (const [path, text] of files) put(path, text);
  }
  await new Promise((res, rej) => {
    const fi = spawn("git", ["fast-import", "--quiet"], { cwd: dir, env, stdio: ["pipe", "inherit", "inherit"] });
    fi.on("error", rej);
    fi.on("close", (code) => (code === 0 ? res() : rej(new Error(`git fast-import exited ${code}`))));
    fi.stdin.end(Buffer.concat(out));
  });
  const trees = git(["log", "--reverse", "--format=%T", "refs/heads/unsigned"]).split("\n");
  if (trees.length !== N + EXTRA + 1) throw new Error(`fast-import made ${trees.length} commits, not ${N + EXTRA + 1}`);

  // ---- signed commits, written as loose objects --------------------------------------
  const t1 = performance.now();
  const trustRoot = git(["rev-parse", "refs/heads/unsigned~" + (N + EXTRA)]);
  const objects = join(dir, ".git", "objects");
  const chain = [trustRoot];
  for (const [i, [signer]] of plan.entries()) {
    const ident = `${signer} <${signer}@bench.invalid> ${1764000000 + (i + 1) * 60} +0000`;
    const head = `tree ${trees[i + 1]}\nparent ${chain[i]}\nauthor ${ident}\ncommitter ${ident}\n`;
    const message = `\n${signer}: change ${i + 1}\n`;
    const sig = sshSign(keys[signer], Buffer.from(head + message), "git").trimEnd().split("\n").join("\n ");
    const body = Buffer.from(`${head}gpgsig ${sig}\n${message}`);
    const obj = Buffer.concat([Buffer.from(`commit ${body.length}\0`), body]);
    const id = createHash("sha1").update(obj).digest("hex");
    mkdirSync(join(objects, id.slice(0, 2)), { recursive: true });
    writeFileSync(join(objects, id.slice(0, 2), id.slice(2)), deflateSync(obj, { level: 1 }));
    chain.push(id);
  }
  const head = chain[N];
  git(["update-ref", "refs/heads/main", head]);
  git(["update-ref", "-d", "refs/heads/unsigned"]);
  // The held-back commits are packed too (repack drops what no ref reaches), then let go.
  git(["update-ref", "refs/held-back", chain[N + EXTRA]]);
  git(["repack", "-adq"]);
  git(["update-ref", "-d", "refs/held-back"]);
  git(["fsck", "--no-dangling", "--connectivity-only", head]);
  const t2 = performance.now();
  console.log(`repo: ${N} signed commits after the trust root (+${EXTRA} held back), ${projects.length} projects, ${who.length} signers; trees by fast-import in ${((t1 - t0) / 1000).toFixed(1)} s, signing + loose objects + repack in ${((t2 - t1) / 1000).toFixed(1)} s`);

  // ---- stock git accepts them (allowed_signers made by boot-meta from keys/) ---------
  const signers = await allowedSigners(dir, { write: true });
  const sample = Array.from({ length: SAMPLE }, (_, i) => chain[1 + Math.floor((i * N) / SAMPLE)]);
  let tv = performance.now();
  for (const c of sample) {
    const v = spawnSync("git", ["verify-commit", c], { cwd: dir, env, encoding: "utf8" });
    if (v.status !== 0 || !/Good "git" signature for (admin|alice|bob|ci) /.test(v.stderr)) throw new Error(`git verify-commit ${c}: ${v.stderr}`);
  }
  const gitVerifyEach = (performance.now() - tv) / SAMPLE;
  // git log --show-signature over SAMPLE consecutive commits (one git, one ssh-keygen each).
  tv = performance.now();
  const shown = spawnSync("git", ["log", "--show-signature", `-${SAMPLE}`, "--format=%H", head], { cwd: dir, env, encoding: "utf8", maxBuffer: 1 << 26 });
  const gitLogEach = (performance.now() - tv) / SAMPLE;
  const good = (shown.stdout.match(/Good "git" signature for /g) ?? []).length;
  if (good !== SAMPLE) throw new Error(`git log --show-signature: ${good} good signatures of ${SAMPLE}`);
  console.log(`stock git accepts the sample: ${SAMPLE} × git verify-commit and git log --show-signature -${SAMPLE}, allowed_signers of ${signers.signers.length} keys`);

  // ---- boot-meta --------------------------------------------------------------------
  const scratch = [];
  for (let round = 0; round < 3; round++) {
    const ts = performance.now();
    const v = await verifyHistory(dir, { root: trustRoot, head, cache: false });
    scratch.push(performance.now() - ts);
    if (v.failure || v.checked !== N || v.verified !== head) throw new Error(`verifyHistory: ${JSON.stringify({ checked: v.checked, failure: v.failure })}`);
  }
  const memAfter = mem();
  const viewed = [];
  for (let round = 0; round < 3; round++) {
    rmSync(join(dir, ".git", "boot-meta", "views"), { recursive: true, force: true });
    const ts = performance.now();
    const v = await trustedView(dir, { root: trustRoot, head });
    viewed.push(performance.now() - ts);
    if (v.tainted.size !== 0) throw new Error(`trustedView tainted ${[...v.tainted.keys()].join(", ")}`);
  }
  // Incremental: a follower that verified up to head gets one new commit at a time.
  await verifyHistory(dir, { root: trustRoot, head });
  const incremental = [];
  for (let k = 1; k <= EXTRA; k++) {
    git(["update-ref", "refs/heads/main", chain[N + k]]);
    const ts = performance.now();
    const v = await verifyHistory(dir, { root: trustRoot, head: chain[N + k] });
    incremental.push(performance.now() - ts);
    if (v.failure || v.checked !== 1) throw new Error(`incremental verifyHistory checked ${v.checked}: ${JSON.stringify(v.failure)}`);
  }

  // ---- report -----------------------------------------------------------------------
  const ours = median(scratch);
  const s = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : fmtMs(ms));
  console.log(`\nverifying ${N} signed commits (median of 3; stock git extrapolated from ${SAMPLE} commits):`);
  table([
    ["contender", `${N} commits`, "per commit", "ratio"],
    ["boot-meta verifyHistory, from scratch", s(ours), fmtMs(ours / N), "1.00"],
    ["boot-meta trustedView, from scratch", s(median(viewed)), fmtMs(median(viewed) / N), `${(median(viewed) / ours).toFixed(2)}×`],
    ["git verify-commit, one per commit", s(gitVerifyEach * N), fmtMs(gitVerifyEach), `${((gitVerifyEach * N) / ours).toFixed(1)}×`],
    ["git log --show-signature", s(gitLogEach * N), fmtMs(gitLogEach), `${((gitLogEach * N) / ours).toFixed(1)}×`],
  ]);
  console.log(`\none new commit on a verified history (median of ${EXTRA}):`);
  table([
    ["contender", "time", "ratio"],
    ["boot-meta verifyHistory, incremental", fmtMs(median(incremental)), "1.00"],
    ["git verify-commit of that commit", fmtMs(gitVerifyEach), `${(gitVerifyEach / median(incremental)).toFixed(1)}×`],
  ]);
  console.log(`\nafter verifyHistory from scratch: ${memAfter}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
