import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BootMetaError, ExitCode } from "../errors.js";
import { inspectBytes } from "../sops/engine.js";
import { DEFAULT_SELECTION, shouldBeEncrypted } from "../sops/selection.js";
import { Branch, type Value } from "../sops/tree.js";
import { type Governed, governedFiles } from "./access.js";
import { Git } from "./git.js";
import { TEST_ONLY_KEY_MARKER } from "./layout.js";
import { principalsOf, type RepoState } from "./model.js";
import { byName, type Reader, readerOver } from "./reader.js";
import { readState } from "./state.js";

/**
 * `boot-meta check [--staged]`, the pre-commit check `git setup` installs: what a commit must
 * never carry in a meta repository — plaintext where the rules want ciphertext (a governed path
 * that is not a SOPS file, or a SOPS file with values in the clear that its own rule says are
 * encrypted), a private key anywhere (except a test fixture whose first line is the project's
 * test-only marker), and a governed file encrypted to other people than the rules give it
 * (access.ts: the same reading of labels and stanzas as `access check`). `--staged` reads git's
 * index — exactly what the commit will hold, not the work tree — and checks the files the
 * commit adds or changes, against the rules as staged; without it, every tracked file in the
 * work tree is checked against the rules in the work tree. Needs no key; extensions the caller
 * passes in (the project schemas, src/config/commit-schema.ts) may use the committer's.
 */

export type FindingKind = "private-key" | "plaintext" | "unencrypted-value" | "recipients" | "key-metadata" | "binding" | "rules" | "schema";

export interface Finding {
  path: string;
  kind: FindingKind;
  /** What is wrong, naming no secret. */
  what: string;
  /** What to do about it. */
  fix: string;
}

export interface CheckResult {
  mode: "staged" | "worktree";
  /** Files looked at. */
  checked: number;
  findings: Finding[];
  /** What was not checked and why (a layer the committer's key does not open, say): never a failure. */
  notes: string[];
}

/**
 * A check that needs more than this layer may know (the project schemas need src/config, which
 * ranks above src/meta): the caller passes it in; it sees the same files the check reads.
 */
export type CheckExtension = (o: { reader: Reader; paths: readonly string[]; staged: boolean }) => Promise<{ findings: Finding[]; notes: string[] }>;

/**
 * Private key material a meta repository never holds: age identities (bech32, upper case as
 * age-keygen writes them) and PEM/OpenSSH private key blocks (OpenSSH, PKCS#1/#8, EC, DSA, PGP).
 */
const PRIVATE_KEYS: [RegExp, string][] = [
  [/AGE-SECRET-KEY-(?:PQ-)?1[02-9AC-HJ-NP-Z]{20,}/, "an age private key (AGE-SECRET-KEY-1…)"],
  [/-----BEGIN OPENSSH PRIVATE KEY-----/, "an OpenSSH private key"],
  [/-----BEGIN (?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----/, "a PEM private key"],
  [/-----BEGIN PGP PRIVATE KEY BLOCK-----/, "a PGP private key"],
];

/** What private key a file holds, if any; a file whose first line is the test-only marker is a fixture and passes. */
export function privateKeyIn(bytes: Uint8Array): string | undefined {
  const text = Buffer.from(bytes).toString("latin1");
  if (text.startsWith(TEST_ONLY_KEY_MARKER)) return undefined;
  for (const [re, what] of PRIVATE_KEYS) if (re.test(text)) return what;
  return undefined;
}

/** Dotted paths of values left in the clear that the file's own selection rule says are encrypted. */
function clearValues(tree: Branch[], rule = DEFAULT_SELECTION): string[] {
  // Comment rules look at comment lines around a value: only sops' own walk can say; skipped here.
  if (rule.kind.includes("comment")) return [];
  const out: string[] = [];
  const walk = (v: Value, path: string[]): void => {
    if (v instanceof Branch) {
      for (const i of v.items) if ("key" in i && !(path.length === 0 && i.key === "sops")) walk(i.value, [...path, i.key]);
    } else if (Array.isArray(v)) for (const x of v) walk(x, path);
    else if (v !== null && v !== "" && !(typeof v === "string" && v.startsWith("ENC[AES256_GCM,")) && shouldBeEncrypted(rule, path, [], false)) out.push(path.join("."));
  };
  for (const doc of tree) walk(doc, []);
  return out;
}

function governedFindings(s: RepoState, g: Governed, bytes: Uint8Array): Finding[] {
  if (g.now === undefined) {
    return [{ path: g.path, kind: "plaintext", what: `${g.path} is governed by the access rules (readers: ${g.readers.join(", ") || "none"}) but is not a SOPS file`, fix: `encrypt it: \`boot-meta encrypt -i ${g.path}\` (then \`git add\` it again), or move it out of the governed folders` }];
  }
  const out: Finding[] = [];
  const missing = g.want.filter((x) => !(g.now as string[]).includes(x));
  const extra = (g.now as string[]).filter((x) => !g.want.includes(x));
  if (missing.length || extra.length) {
    const parts = [...(extra.length ? [`also to ${principalsOf(s, extra).join(", ")}`] : []), ...(missing.length ? [`not to ${principalsOf(s, missing).join(", ")}`] : [])];
    out.push({ path: g.path, kind: "recipients", what: `${g.path} is encrypted ${parts.join(" and ")}; the rules give it to ${g.readers.join(", ") || "nobody"}`, fix: "re-key it to the rules: `boot-meta access sync` (or `boot-meta updatekeys FILE`; `rotate` when a reader was removed)" });
  }
  for (const issue of g.keyIssues) out.push({ path: g.path, kind: "key-metadata", what: `${g.path}: ${issue}`, fix: "review it: `boot-meta access check` shows the drift; `boot-meta access sync` re-keys it" });
  if (typeof g.binding === "string" && g.binding !== g.path) {
    out.push({ path: g.path, kind: "binding", what: `${g.path} was written for ${g.binding}: its ciphertext was copied or moved here`, fix: `create ${g.path} anew with \`boot-meta edit\` rather than copying another file's ciphertext` });
  }
  try {
    const k = inspectBytes(bytes, g.format, g.path);
    const clear = clearValues(k.tree, k.selection);
    if (clear.length) {
      const shown = clear.slice(0, 5).join(", ") + (clear.length > 5 ? `, … (${clear.length} in all)` : "");
      out.push({ path: g.path, kind: "unencrypted-value", what: `${g.path} has values in the clear that its rule encrypts: ${shown}`, fix: `open and save it with \`boot-meta edit ${g.path}\` (or \`boot-meta set\`), which encrypts them` });
    }
  } catch {
    /* not readable as SOPS: said above */
  }
  return out;
}

/** The files of a work tree that git tracks, as a Reader (the rules and keys as they are on disk). */
function worktreeReader(dir: string, tracked: string[]): Reader {
  const files = new Set(tracked);
  const under = (d: string) => (d === "" ? "" : `${d}/`);
  return {
    async read(path) {
      if (!files.has(path)) return undefined;
      return readFile(join(dir, path)).then((b) => new Uint8Array(b), () => undefined);
    },
    async children(d) {
      const at = under(d);
      const seen = new Map<string, boolean>();
      for (const f of files) {
        if (!f.startsWith(at)) continue;
        const rest = f.slice(at.length);
        const slash = rest.indexOf("/");
        const name = slash < 0 ? rest : rest.slice(0, slash);
        seen.set(name, slash >= 0 || seen.get(name) === true);
      }
      return [...seen].map(([name, isDir]) => ({ name, dir: isDir })).sort(byName);
    },
    async list(d) {
      const at = under(d);
      return [...files].filter((f) => f.startsWith(at)).sort();
    },
  };
}

const nul = (s: string) => s.split("\0").filter((x) => x !== "");

/**
 * Checks what a commit would carry (`staged`) or the work tree's tracked files. Returns every
 * finding; the command turns a non-empty list into `CHECK_FINDINGS` (exit 1).
 */
export async function checkRepo(repoDir: string, o: { staged?: boolean; extensions?: readonly CheckExtension[] } = {}): Promise<CheckResult> {
  const git = await Git.open(repoDir);
  let reader: Reader;
  let paths: string[];
  let close = () => {};
  if (o.staged) {
    // The index as a tree (what `git commit` will write; no unmerged entries before a commit).
    const tree = (await git.run(["write-tree"])).stdout.trim();
    const cat = git.catFile();
    close = () => cat.close();
    reader = readerOver(cat, tree.length === 64 ? "sha256" : "sha1", { tree });
    const hasHead = (await git.run(["rev-parse", "--verify", "-q", "HEAD"], { reject: false })).exitCode === 0;
    const diff = await git.run(["diff", "--cached", "--name-only", "-z", "--no-renames", "--diff-filter=ACMRT", ...(hasHead ? ["HEAD"] : [])]);
    paths = nul(diff.stdout);
  } else {
    paths = nul((await git.run(["ls-files", "-z", "--cached"])).stdout);
    reader = worktreeReader(git.dir, paths);
  }
  try {
    const findings: Finding[] = [];
    const wanted = new Set(paths);
    const bytesOf = new Map<string, Uint8Array>();
    for (const path of paths) {
      const bytes = await reader.read(path);
      if (!bytes) continue;
      bytesOf.set(path, bytes);
      const key = privateKeyIn(bytes);
      if (key) findings.push({ path, kind: "private-key", what: `${path} holds ${key}`, fix: `remove it from the commit (\`git rm --cached ${path}\`) and treat the key as leaked: rotate it. A test fixture's first line must be "${TEST_ONLY_KEY_MARKER}"` });
    }
    let state: RepoState | undefined;
    try {
      state = await readState(reader);
    } catch (e) {
      const code = (e as { code?: string }).code;
      // Not a meta repository: no rules to check against, the key scan above still holds.
      if (code !== "META_NOT_INITIALISED" && code !== "META_PRIVATE_KEY_REFUSED") {
        findings.push({ path: ".boot-meta.yaml", kind: "rules", what: `the access rules cannot be read: ${e instanceof Error ? e.message : String(e)}`, fix: "fix .boot-meta.yaml and keys/ so `boot-meta access check` reads them" });
      }
    }
    if (state) {
      for (const g of await governedFiles(reader, state)) {
        if (!wanted.has(g.path)) continue;
        findings.push(...governedFindings(state, g, bytesOf.get(g.path) ?? new Uint8Array()));
      }
    }
    const notes: string[] = [];
    for (const ext of o.extensions ?? []) {
      const r = await ext({ reader, paths, staged: o.staged === true });
      findings.push(...r.findings);
      notes.push(...r.notes);
    }
    return { mode: o.staged ? "staged" : "worktree", checked: paths.length, findings, notes };
  } finally {
    close();
  }
}

/** `CHECK_FINDINGS` for a check that found something: nothing was committed. */
export function findingsError(r: CheckResult): BootMetaError {
  const where = r.mode === "staged" ? "the staged changes" : "the work tree's tracked files";
  return new BootMetaError("CHECK_FINDINGS", `${r.findings.length} problem(s) in ${where}: ${r.findings.map((f) => f.what).join("; ")}`, ExitCode.General, {
    data: r as unknown as Record<string, unknown>,
    suggestions: [...new Set(r.findings.map((f) => f.fix))],
  });
}
