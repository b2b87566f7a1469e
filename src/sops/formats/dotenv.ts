import { decodeUtf8, limitExceeded, limits } from "../../limits.js";
import { valueToEnvString } from "../env-value.js";
import { Branch, Comment, type Tree } from "../tree.js";
import { malformed, notEncrypted } from "./errors.js";
import { flatten, unflatten } from "./flatten.js";
import type { Store } from "./store.js";

// sops stores/dotenv/store.go: KEY=VALUE lines split at the first "=", keys kept as they are
// (not trimmed), `\n` in values standing for a newline, `#` comment lines; no quoting.
const PREFIX = "sops_";

function parse(data: Uint8Array, file?: string): Branch {
  const items: Branch["items"] = [];
  const max = limits().maxNodes;
  decodeUtf8(data, file)
    .split("\n")
    .forEach((line, i) => {
      if (line === "") return;
      if (items.length >= max) throw limitExceeded("maxNodes", file, `has more than ${max} lines`);
      if (line.startsWith("#")) {
        items.push({ comment: new Comment(line.slice(1)) });
        return;
      }
      const eq = line.indexOf("=");
      if (eq < 0) throw malformed("dotenv", `line ${i + 1} has no "=" (expected KEY=VALUE)`);
      items.push({ key: line.slice(0, eq), value: line.slice(eq + 1).replaceAll("\\n", "\n") });
    });
  return new Branch(items);
}

function emit(items: Branch["items"]): Uint8Array {
  let out = "";
  for (const it of items) {
    if ("comment" in it) out += `#${it.comment.text}\n`;
    else out += `${it.key}=${valueToEnvString(it.value, it.key).replaceAll("\n", "\\n")}\n`;
  }
  return Buffer.from(out, "utf8");
}

export const dotenvStore: Store = {
  format: "dotenv",
  loadPlain(data, o) {
    return [parse(data, o?.file)];
  },
  loadEncrypted(data, o) {
    const root = parse(data, o?.file);
    const pairs: [string, string][] = [];
    const rest: Branch["items"] = [];
    for (const it of root.items) {
      if ("key" in it && it.key.startsWith(PREFIX)) pairs.push([it.key, it.value as string]);
      else rest.push(it);
    }
    if (pairs.length === 0) throw notEncrypted();
    return { tree: [new Branch(rest)], metadata: unflatten(pairs, PREFIX) };
  },
  emitPlain(tree) {
    return emit(tree[0]?.items ?? []);
  },
  emitEncrypted(tree, metadata) {
    // The metadata goes after the data, flattened and sorted (stores/metadata.go SerializeMetadata).
    const meta = flatten(metadata, PREFIX).map(([key, value]) => ({ key, value }));
    return emit([...(tree[0]?.items ?? []), ...meta]);
  },
  emitValue(v) {
    return Buffer.from(valueToEnvString(v, "value"), "utf8");
  },
  hasMetadata(tree) {
    return tree[0]?.items.some((i) => "key" in i && i.key.startsWith(PREFIX)) ?? false;
  },
};
