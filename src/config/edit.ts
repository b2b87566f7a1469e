import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { defaultsFile, envFile, layersFor, schemaFile, validateName } from "../meta/layout.js";
import { checkWritable } from "../meta/access.js";
import { BINDING_KEY, withBinding, withoutBinding } from "../meta/binding.js";
import { newConfigFile, readState, type WriteOptions } from "../meta/repo.js";
import { withReader } from "../meta/reader.js";
import { type CommitResult, commitChanges } from "../meta/commit.js";
import { openBytes, sealBytes } from "../sops/engine.js";
import { editInEditor } from "../sops/files.js";
import type { IdentitySet } from "../sops/identities.js";
import { yamlStore } from "../sops/formats/yaml.js";
import { Branch, toPlain, type Value } from "../sops/tree.js";
import type { Tx } from "../meta/commit.js";
import type { Plain } from "./merge.js";
import { getPath, parseDottedPath, setPath, unsetPath } from "../sops/tree-path.js";

export interface ConfigTarget {
  project: string;
  /** Omitted: the project's defaults file. */
  env?: string;
}

export function targetPath(t: ConfigTarget): string {
  validateName("project", t.project);
  return t.env === undefined ? defaultsFile(t.project) : envFile(t.project, validateName("env", t.env));
}

function noProject(project: string): BootMetaError {
  return new BootMetaError("META_NO_PROJECT", `there is no project ${project} in this meta repository`, ExitCode.General, { suggestions: [`create it with \`boot-meta project create ${project}\``] });
}

/**
 * One change to a layer, committed: `mutate` gets the layer's root (the layer is created when
 * missing) and says whether it changed anything. `expectCurrent`, when given, is a
 * compare-and-swap for a change planned on an earlier read (config edit): it sees the layer's
 * bytes in the commit this attempt builds on, and throws to refuse.
 */
export async function change(
  repoDir: string,
  t: ConfigTarget,
  o: WriteOptions & { identities: IdentitySet },
  message: string,
  mutate: (root: Branch) => boolean | Promise<boolean>,
  expectCurrent?: (current: Uint8Array | undefined, commit: string | undefined) => Promise<void>,
): Promise<CommitResult<{ path: string; changed: boolean }>> {
  const path = targetPath(t);
  return commitChanges(repoDir, { message, author: o.author, push: o.push }, async (tx) => {
    const state = await readState(tx);
    if (!(await tx.read(`${t.project}/project.yaml`))) {
      throw noProject(t.project);
    }
    const existing = await tx.read(path);
    await expectCurrent?.(existing, tx.base);
    const bytes = existing ?? (await newConfigFile({ ...state, files: [...state.files, path] }, path));
    const f = await openBytes(bytes, { format: "yaml", identities: o.identities, path, pgp: false });
    // Never write a value into a file that someone the rules do not give this path could open.
    const { bind } = existing ? checkWritable(state, path, f) : { bind: false };
    const bound = f.tree[0]?.get(BINDING_KEY);
    // The binding is not config: the change sees the tree without it, and it is put back as it was.
    const tree = withoutBinding(f.tree).map((b) => new Branch(b.items.map((i) => ({ ...i }))));
    const root = tree[0] ?? new Branch();
    if (tree.length === 0) tree.push(root);
    const changed = await mutate(root);
    if (changed) await checkSchemaAfter(tx, t.project, path, toPlain(root) as Plain, o.identities);
    const rebound = typeof bound === "string" ? withBinding(tree, bound) : bind ? withBinding(tree, path) : tree;
    // Re-sealing keeps the ciphertext of every value that did not change: a one-line diff.
    if (changed || bind) tx.write(path, sealBytes(f, rebound));
    return { path, changed };
  });
}

/**
 * Before a layer is written: the merged config of every env that layer feeds (one env; the
 * dev env's developers too; every env for the defaults) must still satisfy the project's
 * schema, if it has one. An env the writer cannot open a layer of is not checked here (the
 * loader checks it for whoever reads it). Throws `CONFIG_SCHEMA_INVALID`; nothing is written.
 */
async function checkSchemaAfter(tx: Tx, project: string, path: string, value: Plain, identities: IdentitySet): Promise<void> {
  const schema = await tx.read(schemaFile(project));
  if (schema === undefined) return;
  const { assertProjectSchema } = await import("./schema.js");
  const prefix = `${project}/envs/`;
  const envs = (await tx.list(`${project}/envs`)).filter((f) => f.endsWith("/config.sops.yaml")).map((f) => f.slice(prefix.length, -"/config.sops.yaml".length));
  const written = /^(.*)\/envs\/(.+)\/config\.sops\.yaml$/.exec(path)?.[2];
  if (written !== undefined && !envs.includes(written)) envs.push(written);
  for (const env of envs.sort()) {
    const specs = layersFor(project, env);
    if (!specs.some((l) => l.path === path)) continue;
    const layers: { name: string; path: string; value: Plain }[] = [];
    let readable = true;
    for (const l of specs) {
      if (l.path === path) {
        layers.push({ ...l, value });
        continue;
      }
      const bytes = await tx.read(l.path);
      if (!bytes) continue;
      try {
        const f = await openBytes(bytes, { format: "yaml", identities, path: l.path, pgp: false });
        layers.push({ ...l, value: toPlain(withoutBinding(f.tree)[0] ?? new Branch()) as Plain });
      } catch (e) {
        if (!isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE")) throw e;
        readable = false;
        break;
      }
    }
    if (readable) assertProjectSchema({ project, env, schema, layers, outcome: `Nothing was written to ${path}` });
  }
}

/** `boot-meta config set KEY VALUE`: one value in the target layer, committed. */
export async function setConfigValue(repoDir: string, t: ConfigTarget, key: string, value: Value, o: WriteOptions & { identities: IdentitySet }): Promise<CommitResult<{ path: string; changed: boolean }>> {
  const path = parseDottedPath(key);
  return change(repoDir, t, o, `config: set ${key} in ${targetPath(t)}`, (root) => {
    setPath(root, path, value);
    return true;
  });
}

/** `boot-meta config unset KEY`. */
export async function unsetConfigValue(repoDir: string, t: ConfigTarget, key: string, o: WriteOptions & { identities: IdentitySet }): Promise<CommitResult<{ path: string; changed: boolean }>> {
  const path = parseDottedPath(key);
  return change(repoDir, t, o, `config: unset ${key} in ${targetPath(t)}`, (root) => {
    if (!unsetPath(root, path)) getPath(root, path);
    return true;
  });
}

/** A layer as a `config edit` started from it: where, at which commit, its bytes (none: new) and plaintext. */
interface EditBase {
  commit: string;
  bytes: Uint8Array | undefined;
  root: Branch;
  plain: Uint8Array;
}

async function readForEdit(repoDir: string, t: ConfigTarget, path: string, identities: IdentitySet): Promise<EditBase> {
  return withReader(repoDir, undefined, async (r) => {
    if (!(await r.read(`${t.project}/project.yaml`))) throw noProject(t.project);
    const bytes = await r.read(path);
    // The path binding is not config: the editor never shows it (change() keeps it).
    const root = bytes ? (withoutBinding((await openBytes(bytes, { format: "yaml", identities, path, pgp: false })).tree)[0] ?? new Branch()) : new Branch();
    return { commit: r.commit, bytes, root, plain: yamlStore.emitPlain([root]) };
  });
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a === undefined || b === undefined ? a === b : Buffer.compare(a, b) === 0;
}

/** Dotted keys whose values differ between two versions of a layer (maps recursed; lists and scalars compared whole). */
export function changedKeys(a: Branch, b: Branch, prefix = ""): string[] {
  const entries = (x: Branch) => new Map(x.items.flatMap((i) => ("key" in i ? [[i.key, i.value] as const] : [])));
  const ea = entries(a);
  const eb = entries(b);
  const out: string[] = [];
  for (const key of new Set([...ea.keys(), ...eb.keys()])) {
    const va = ea.get(key);
    const vb = eb.get(key);
    const at = `${prefix}${key}`;
    if (va instanceof Branch && vb instanceof Branch) out.push(...changedKeys(va, vb, `${at}.`));
    else if (va === undefined || vb === undefined || !sameBytes(yamlStore.emitValue(va), yamlStore.emitValue(vb))) out.push(at);
  }
  return out;
}

/**
 * `boot-meta config edit`: the layer in $EDITOR (a private scratch file), committed when it
 * changed. The repository's write lock is not held while the editor is open: the layer is
 * read, edited, then committed by compare-and-swap on its bytes. If it changed meanwhile
 * (another `config set`, a pull), the edit is refused with `CONFIG_EDIT_CONFLICT`, or —
 * when `onConflict` says so — the editor re-opens on the user's text, to be saved over the
 * new version. The edit lives only in memory and the scratch file between the two.
 */
export async function editConfig(
  repoDir: string,
  t: ConfigTarget,
  o: WriteOptions & { identities: IdentitySet; editor?: string; env?: NodeJS.ProcessEnv; onInvalid?: (e: BootMetaError) => Promise<boolean>; onConflict?: (e: BootMetaError) => Promise<boolean> },
): Promise<CommitResult<{ path: string; changed: boolean }>> {
  const path = targetPath(t);
  let base = await readForEdit(repoDir, t, path, o.identities);
  let text = base.plain;
  for (;;) {
    const edit = await editInEditor(text, "yaml", { editor: o.editor, env: o.env, ext: ".yaml", what: path, baseline: base.plain, onInvalid: o.onInvalid });
    if (!edit) return { value: { path, changed: false }, commit: undefined, pushed: false, attempts: 0 };
    try {
      return await change(
        repoDir,
        t,
        o,
        `config: edit ${path}`,
        (root) => {
          root.items = edit.tree[0]?.items ?? [];
          return true;
        },
        async (current, commit) => {
          if (sameBytes(current, base.bytes)) return;
          const theirs = current ? (withoutBinding((await openBytes(current, { format: "yaml", identities: o.identities, path, pgp: false })).tree)[0] ?? new Branch()) : new Branch();
          throw editConflict(path, base, commit, changedKeys(base.root, theirs));
        },
      );
    } catch (e) {
      if (!isBootMetaError(e, "CONFIG_EDIT_CONFLICT") || !o.onConflict || !(await o.onConflict(e))) throw e;
      base = await readForEdit(repoDir, t, path, o.identities);
      text = edit.text;
    }
  }
}

function editConflict(path: string, base: EditBase, now: string | undefined, keys: string[]): BootMetaError {
  const which = keys.length ? `: ${keys.slice(0, 10).join(", ")}${keys.length > 10 ? ", …" : ""} changed` : "";
  return new BootMetaError(
    "CONFIG_EDIT_CONFLICT",
    `your edit of ${path} was not saved: the file changed while the editor was open${which} (you started from commit ${base.commit.slice(0, 12)}; it is now at ${now?.slice(0, 12) ?? "no commit"})`,
    ExitCode.Conflict,
    {
      data: { path, startedAt: base.commit, now: now ?? null, changedKeys: keys },
      suggestions: ["run `boot-meta config edit` again to edit the new version: your edit was discarded, as boot-meta keeps no copy of plaintext"],
    },
  );
}
