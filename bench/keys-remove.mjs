// `keys remove` at scale (issue 14: "keys remove of a principal who reads 1,000 files, beside
// one boot-meta rotate process per file (ratio), goal < 10 s on 2 cores").
//
// A meta repo where bob (a developer) reads FILES encrypted files in shop's dev folder, each
// bound to its path and encrypted to admin and bob, with a few values each. Timed:
//   boot-meta keys remove bob: one CLI process (bin/run.js, the built dist/) that removes the
//     key and rotates every file bob could read, in one commit;
//   the baseline a script would run instead: one `boot-meta rotate -i --rm-age BOB FILE`
//     process per file, over a sample of SAMPLE files, extrapolated to FILES (the rest of a
//     real script — the commit — is not even counted).
// Environment: FILES (default 1000), SAMPLE (default 40), ROUNDS (default 3, keys remove runs
// on a fresh copy each round; the median is reported), KEEP=1 to keep the repos (to profile).
// A quick try: FILES=100 SAMPLE=10 ROUNDS=1.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { commitChanges } from "../dist/meta/commit.js";
import { addKey, createEnv, createProject, initRepo } from "../dist/meta/repo.js";
import { encryptBytes } from "../dist/sops/engine.js";
import { withBinding } from "../dist/meta/binding.js";
import { identitySetFrom } from "../dist/sops/identities.js";
import { median, table } from "./harness.mjs";

const FILES = Number(process.env.FILES ?? 1000);
const SAMPLE = Math.min(FILES, Number(process.env.SAMPLE ?? 40));
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BIN = join(import.meta.dirname, "../bin/run.js");
const root = mkdtempSync(join(tmpdir(), "boot-meta-keys-remove-bench-"));
const seed = join(root, "seed");
const env = { ...process.env, GIT_CONFIG_NOSYSTEM: "1", HOME: root, XDG_CONFIG_HOME: join(root, ".config"), GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@invalid", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@invalid" };
Object.assign(process.env, { GIT_AUTHOR_NAME: env.GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL: env.GIT_AUTHOR_EMAIL, GIT_COMMITTER_NAME: env.GIT_COMMITTER_NAME, GIT_COMMITTER_EMAIL: env.GIT_COMMITTER_EMAIL, GIT_CONFIG_NOSYSTEM: "1" });

try {
  // ---- the repo: admin and bob, FILES files bob reads ---------------------------------
  const t0 = performance.now();
  const adminId = await generateIdentity();
  const bobId = await generateIdentity();
  const admin = await identityToRecipient(adminId);
  const bob = await identityToRecipient(bobId);
  const keyFile = join(root, "admin.txt");
  writeFileSync(keyFile, `# bench-only key\n${adminId}\n`, { mode: 0o600 });
  const identities = await identitySetFrom([adminId]);
  await initRepo(seed);
  await addKey(seed, "admin", [admin], { group: "admins", identities });
  await addKey(seed, "bob", [bob], { group: "developers", identities });
  await createProject(seed, "shop");
  await createEnv(seed, "shop", "dev");
  await commitChanges(seed, { message: `bench: ${FILES} files bob reads` }, async (tx) => {
    for (let i = 0; i < FILES; i++) {
      const path = `shop/envs/dev/service-${String(i).padStart(4, "0")}.sops.yaml`;
      const plain = `service: s${i}\ndatabase:\n  url: postgres://db-${i}/app\n  password: pw-${i}-${"x".repeat(16)}\napi_key: key-${i}\n`;
      tx.write(path, await encryptBytes(Buffer.from(plain), { format: "yaml", keyGroups: [[admin, bob].sort()], path, transform: (t) => withBinding(t, path) }));
    }
  });
  execFileSync("git", ["gc", "-q"], { cwd: seed, env });
  console.log(`repo: ${FILES} files readable by bob, built in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${availableParallelism()} cores`);

  const copy = (name) => {
    const d = join(root, name);
    rmSync(d, { recursive: true, force: true });
    cpSync(seed, d, { recursive: true });
    return d;
  };
  // CPU time (user + system, the process and its git children) beside wall time: on a
  // machine others share, wall time says how busy it was as much as what the command costs.
  const timed = existsSync("/usr/bin/time");
  const run = (args, cwd) => {
    const t = performance.now();
    const cmd = timed ? ["/usr/bin/time", ["-f", "cpu %U %S", process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]];
    const r = spawnSync(cmd[0], cmd[1], { cwd, env: { ...env, SOPS_AGE_KEY_FILE: keyFile }, encoding: "utf8", maxBuffer: 1 << 26 });
    const ms = performance.now() - t;
    if (r.status !== 0) throw new Error(`boot-meta ${args.join(" ")} exited ${r.status}: ${r.stderr.slice(0, 2000)}`);
    const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
    return { ms, cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN, out: r.stdout };
  };

  // ---- boot-meta keys remove bob ------------------------------------------------------
  const removeMs = [];
  const removeCpu = [];
  for (let i = 0; i < ROUNDS; i++) {
    const d = copy(`remove-${i}`);
    const { ms, cpu, out } = run(["keys", "remove", "bob", "--meta", d, "--json"], d);
    removeCpu.push(cpu);
    const rotated = JSON.parse(out).rotated.length;
    if (rotated !== FILES + 1) throw new Error(`keys remove rotated ${rotated} files, expected ${FILES + 1}`);
    removeMs.push(ms);
  }

  // ---- one `boot-meta rotate` process per file (a sample) -----------------------------
  const d = copy("rotate");
  const perFile = [];
  const perFileCpu = [];
  for (let i = 0; i < SAMPLE; i++) {
    const file = join(d, `shop/envs/dev/service-${String(Math.floor((i * FILES) / SAMPLE)).padStart(4, "0")}.sops.yaml`);
    const r = run(["rotate", "-i", "--rm-age", bob, file], d);
    perFile.push(r.ms);
    perFileCpu.push(r.cpu);
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const remove = median(removeMs);
  const cpu = median(removeCpu);
  const scripted = mean(perFile) * FILES;
  const scriptedCpu = mean(perFileCpu) * FILES;
  const s = (ms) => (Number.isNaN(ms) ? "n/a" : `${(ms / 1000).toFixed(2)} s`);
  table([
    ["contender", "wall", "cpu", "wall per file", "wall vs keys remove", "cpu vs keys remove"],
    [`boot-meta keys remove bob (${FILES + 1} files, one process, one commit)`, s(remove), s(cpu), `${(remove / (FILES + 1)).toFixed(2)} ms`, "1.00×", "1.00×"],
    [`boot-meta rotate, one process per file (${SAMPLE} sampled, ×${FILES})`, s(scripted), s(scriptedCpu), `${mean(perFile).toFixed(1)} ms`, `${(scripted / remove).toFixed(1)}× slower`, `${(scriptedCpu / cpu).toFixed(1)}× more`],
  ]);
  console.log(`load average while it ran: ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${availableParallelism()} cores`);
  console.log(`goal: keys remove of ${FILES} files < 10 s on 2 cores: ${remove < 10_000 ? "met" : "NOT met"} (wall ${s(remove)}, cpu ${s(cpu)}; rounds ${removeMs.map((m) => (m / 1000).toFixed(2)).join(", ")} s)`);
} finally {
  if (process.env.KEEP) console.log(`kept: ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
