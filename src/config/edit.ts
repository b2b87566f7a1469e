import { BootMetaError, ExitCode } from "../errors.js";
import { defaultsFile, envFile, validateName } from "../meta/layout.js";
import { checkWritable } from "../meta/access.js";
import { BINDING_KEY, withBinding, withoutBinding } from "../meta/binding.js";
import { newConfigFile, readState, type WriteOptions } from "../meta/repo.js";
import { commitChanges } from "../meta/store.js";
import { openBytes, sealBytes } from "../sops/engine.js";
import { editInEditor } from "../sops/files.js";
import type { IdentitySet } from "../sops/identities.js";
import { yamlStore } from "../sops/stores/yaml.js";
import { Branch, type Value } from "../sops/tree.js";
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

async function change(repoDir: string, t: ConfigTarget, o: WriteOptions & { identities: IdentitySet }, message: string, mutate: (root: Branch) => boolean | Promise<boolean>) {
  const path = targetPath(t);
  return commitChanges(repoDir, { message, author: o.author, push: o.push }, async (tx) => {
    const state = await readState(tx);
    if (!(await tx.read(`${t.project}/project.yaml`))) {
      throw new BootMetaError("META_NO_PROJECT", `there is no project ${t.project} in this meta repository`, ExitCode.General, { suggestions: [`create it with \`boot-meta project create ${t.project}\``] });
    }
    const existing = await tx.read(path);
    const bytes = existing ?? (await newConfigFile({ ...state, files: [...state.files, path] }, path));
    const f = await openBytes(bytes, { format: "yaml", identities: o.identities, path, pgp: false });
    // Never write a value into a file that someone the rules do not give this path could open.
    const { bind } = existing ? checkWritable(state, path, bytes, f) : { bind: false };
    const bound = f.tree[0]?.get(BINDING_KEY);
    // The binding is not config: the change sees the tree without it, and it is put back as it was.
    const tree = withoutBinding(f.tree).map((b) => new Branch(b.items.map((i) => ({ ...i }))));
    const root = tree[0] ?? new Branch();
    if (tree.length === 0) tree.push(root);
    const changed = await mutate(root);
    const rebound = typeof bound === "string" ? withBinding(tree, bound) : bind ? withBinding(tree, path) : tree;
    // Re-sealing keeps the ciphertext of every value that did not change: a one-line diff.
    if (changed || bind) tx.write(path, sealBytes(f, rebound));
    return { path, changed };
  });
}

/** `boot-meta config set KEY VALUE`: one value in the target layer, committed. */
export async function setConfigValue(repoDir: string, t: ConfigTarget, key: string, value: Value, o: WriteOptions & { identities: IdentitySet }) {
  const path = parseDottedPath(key);
  return change(repoDir, t, o, `config: set ${key} in ${targetPath(t)}`, (root) => {
    setPath(root, path, value);
    return true;
  });
}

/** `boot-meta config unset KEY`. */
export async function unsetConfigValue(repoDir: string, t: ConfigTarget, key: string, o: WriteOptions & { identities: IdentitySet }) {
  const path = parseDottedPath(key);
  return change(repoDir, t, o, `config: unset ${key} in ${targetPath(t)}`, (root) => {
    if (!unsetPath(root, path)) getPath(root, path);
    return true;
  });
}

/** `boot-meta config edit`: the layer in $EDITOR (private temp file), committed when changed. */
export async function editConfig(repoDir: string, t: ConfigTarget, o: WriteOptions & { identities: IdentitySet; editor?: string; env?: NodeJS.ProcessEnv }) {
  return change(repoDir, t, o, `config: edit ${targetPath(t)}`, async (root) => {
    const tree = await editInEditor(yamlStore.emitPlain([root]), "yaml", { editor: o.editor, env: o.env, ext: ".yaml", what: targetPath(t) });
    if (!tree) return false;
    root.items = tree[0]?.items ?? [];
    return true;
  });
}
