import { createHash, type Hash } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";
import { decryptValue, encryptValue, isEncryptedValue, plainBytes, type IvStash, type Plain } from "./cipher.js";
import { type SelectionRule, shouldBeEncrypted } from "./selection.js";
import { Branch, Comment, type Item, type Tree, type Value } from "./tree.js";

// sops.go:89-93: SHA-256("sops"), hashed first when mac_only_encrypted is set so such a MAC
// can never equal one computed over every value.
const MAC_ONLY_INIT = Buffer.from("8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69", "hex");

export interface WalkOptions {
  key: Uint8Array;
  selection: SelectionRule;
  macOnlyEncrypted: boolean;
  stash?: IvStash;
  /** Decrypt `type:str` as raw bytes (binary store). */
  rawStrings?: boolean;
  /** File name for messages. */
  file?: string;
}

type Leaf = (value: Plain, path: string[], stack: string[][], isComment: boolean) => Value;

/**
 * Walks a tree depth-first in document order, calling `leaf` on every non-null scalar and
 * comment (sops.go:339-435): list items keep their parent's path, comments use the path of
 * the enclosing map, the comment stack collects the comment lines above each item.
 * Returns a new tree; the input is not modified.
 */
function walkTree(tree: Tree, leaf: Leaf): Tree {
  return tree.map((b) => walkBranch(b, [], [], leaf));
}

function walkBranch(b: Branch, path: string[], stack: string[][], leaf: Leaf): Branch {
  const level: string[] = [];
  const inner = [...stack, level];
  const out: Item[] = [];
  for (const item of b.items) {
    if ("comment" in item) {
      level.push(item.comment.text);
      const r = leaf(item.comment, path, inner, true);
      out.push({ comment: r instanceof Comment ? r : new Comment(String(r), item.comment.inline) });
      continue;
    }
    const isComment = item.value instanceof Comment;
    if (item.value instanceof Comment) level.push(item.value.text);
    out.push({ key: item.key, value: walkValue(item.value, [...path, item.key], inner, leaf) });
    if (!isComment) level.length = 0;
  }
  return new Branch(out);
}

function walkList(list: Value[], path: string[], stack: string[][], leaf: Leaf): Value[] {
  const level: string[] = [];
  const inner = [...stack, level];
  return list.map((v) => {
    const isComment = v instanceof Comment;
    if (v instanceof Comment) level.push(v.text);
    const r = walkValue(v, path, inner, leaf);
    if (!isComment) level.length = 0;
    return r;
  });
}

function walkValue(v: Value, path: string[], stack: string[][], leaf: Leaf): Value {
  if (v === null) return null; // nil is neither encrypted nor hashed (sops.go:359)
  if (v instanceof Branch) return walkBranch(v, path, stack, leaf);
  if (Array.isArray(v)) return walkList(v, path, stack, leaf);
  return leaf(v, path, stack, v instanceof Comment);
}

function newMac(macOnlyEncrypted: boolean): Hash {
  const h = createHash("sha512");
  if (macOnlyEncrypted) h.update(MAC_ONLY_INIT);
  return h;
}

const aadOf = (path: string[]) => `${path.join(":")}:`;

/**
 * Encrypts every leaf the selection rule covers and computes the MAC over the plaintext
 * leaves in walk order, comments excluded (sops.go Tree.Encrypt).
 */
export function encryptTree(tree: Tree, o: WalkOptions): { tree: Tree; mac: string } {
  const h = newMac(o.macOnlyEncrypted);
  const out = walkTree(tree, (value, path, stack, isComment) => {
    const enc = shouldBeEncrypted(o.selection, path, stack, isComment);
    if ((!o.macOnlyEncrypted || enc) && !isComment) h.update(plainBytes(value).bytes);
    if (!enc) return value;
    const text = encryptValue(value, o.key, aadOf(path), o.stash);
    if (isComment && o.selection.kind === "unencrypted_comment_regex" && shouldBeEncrypted(o.selection, [], [[text]], false) === false) {
      // sops.go:554-563: such a comment would be read back as a plaintext marker and break the MAC.
      throw new BootMetaError("SOPS_INVALID_RULE", `an encrypted comment under ${aadOf(path)} matches unencrypted_comment_regex; choose a regex that cannot match ENC[…] text`, ExitCode.ErrorEncryptingTree);
    }
    // walkBranch wraps this back into a Comment for a map comment; in a list the ENC text
    // becomes a string item, as sops stores it (sops.go walkSlice).
    return text;
  });
  return { tree: out, mac: h.digest("hex").toUpperCase() };
}

/**
 * Decrypts every leaf the selection rule covers, recomputing the MAC as sops.go Tree.Decrypt
 * does (values that decrypt to a comment are not hashed: the ≤3.13.1/3.13.3 rule).
 */
export function decryptTree(tree: Tree, o: WalkOptions): { tree: Tree; mac: string } {
  const h = newMac(o.macOnlyEncrypted);
  const where = (path: string[]) => `${o.file ? `${o.file}: ` : ""}${path.length ? path.join(".") : "(top level)"}`;
  const out = walkTree(tree, (value, path, stack, isComment) => {
    const enc = shouldBeEncrypted(o.selection, path, stack, isComment);
    let plain: Plain = value;
    if (enc) {
      if (isComment) {
        const c = value as Comment;
        // A comment that is not ENC[…] was never encrypted (written before sops encrypted
        // comments): keep it, as sops does. One that is ENC[…] must authenticate.
        plain = isEncryptedValue(c.text) ? asComment(decryptValue(c.text, o.key, aadOf(path), { stash: o.stash, where: where(path) }), c.inline) : c;
      } else if (typeof value === "string") {
        plain = decryptValue(value, o.key, aadOf(path), { stash: o.stash, rawStrings: o.rawStrings, where: where(path) });
      } else {
        throw new BootMetaError("SOPS_MALFORMED_VALUE", `the value at ${where(path)} should be encrypted but is a plain ${typeof value}`, ExitCode.ErrorDecryptingTree, {
          data: { path: where(path) },
          suggestions: ["restore the file from git history, or re-encrypt it with `boot-meta encrypt`"],
        });
      }
    }
    if ((!o.macOnlyEncrypted || enc) && !(plain instanceof Comment)) h.update(plainBytes(plain).bytes);
    return plain;
  });
  return { tree: out, mac: h.digest("hex").toUpperCase() };
}

function asComment(v: Plain, inline: boolean): Comment {
  if (v instanceof Comment) return new Comment(v.text, inline);
  // A map comment whose ENC type is not `comment` can only come from tampering.
  throw new BootMetaError("SOPS_MALFORMED_VALUE", "an encrypted comment decrypted to a value that is not a comment", ExitCode.ErrorDecryptingTree);
}
