import { BootMetaError, ExitCode } from "../errors.js";
import { Branch, type Tree } from "../sops/tree.js";

/**
 * Binding a governed file to its path (DESIGN.md, "Conventions").
 *
 * Every governed SOPS file carries, as a top-level value, the repository path it was written
 * for. The key ends in sops' default `_unencrypted` suffix, so the value is in the clear (a
 * check with no key can read it) and, like every value unless `mac_only_encrypted` is set,
 * covered by the file's MAC: someone who cannot open the file cannot change or remove it
 * without the MAC failing, so a ciphertext copied from `envs/prod/` to a path with more
 * readers still names `envs/prod/`. A re-key that would widen a file checks the MAC and this
 * binding first. The loader and `config` verbs strip it from what they return (`withoutBinding`).
 */
export const BINDING_KEY = "boot_meta_path_unencrypted";

/**
 * The binding as the file states it, read from a plain tree or, with no key, from an
 * encrypted one: undefined when it has none, `{ encrypted: true }` when the file's selection
 * rule encrypted it (then only a reader can see it).
 */
export function bindingIn(tree: Tree): string | undefined | { encrypted: true } {
  const v = tree[0]?.get(BINDING_KEY);
  if (typeof v !== "string") return undefined;
  return v.startsWith("ENC[AES256_GCM,") ? { encrypted: true } : v;
}

/**
 * The binding of an opened file, verified by its MAC: undefined when it has none, or when
 * `mac_only_encrypted` leaves plain values (the binding among them) outside the MAC.
 */
export function openedBinding(f: { tree: Tree; metadata: { macOnlyEncrypted: boolean } }): string | undefined {
  if (f.metadata.macOnlyEncrypted) return undefined;
  const v = f.tree[0]?.get(BINDING_KEY);
  return typeof v === "string" ? v : undefined;
}

/** A copy of the tree with the binding set to `path`, first in the top-level map. */
export function withBinding(tree: Tree, path: string): Tree {
  const root = tree[0] ?? new Branch();
  const items = root.items.filter((i) => !("key" in i && i.key === BINDING_KEY));
  return [new Branch([{ key: BINDING_KEY, value: path }, ...items]), ...tree.slice(1)];
}

/** A copy of the tree without the binding (what readers and editors see). */
export function withoutBinding(tree: Tree): Tree {
  const root = tree[0];
  if (!root?.has(BINDING_KEY)) return tree;
  return [new Branch(root.items.filter((i) => !("key" in i && i.key === BINDING_KEY))), ...tree.slice(1)];
}

/** The file states that it was written for another path: it was copied or moved there. */
export function bindingMismatch(path: string, boundTo: string): BootMetaError {
  return new BootMetaError(
    "META_BINDING_MISMATCH",
    `${path} was written for ${boundTo}: its ciphertext was copied or moved here, so it is not trusted at this path`,
    ExitCode.General,
    {
      data: { file: path, boundTo },
      suggestions: [
        `if it is meant to be here, re-create it: decrypt what it should hold and write it with \`boot-meta config set\`/\`edit\`, or remove it with git`,
        `after reviewing who could read it before, \`boot-meta access sync --accept ${path}\` binds it here`,
      ],
    },
  );
}
