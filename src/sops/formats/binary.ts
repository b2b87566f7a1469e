import { checkSize } from "../../limits.js";
import { Branch, type Value } from "../tree.js";
import { malformed } from "./errors.js";
import { jsonStore } from "./json.js";
import type { Store } from "./store.js";

/**
 * Any other file: the plaintext is the raw bytes as one value `data` (AAD `data:`), never
 * decoded as UTF-8; the encrypted file is the JSON store's `{"data": "ENC[…]", "sops": …}`
 * (sops stores/json/store.go BinaryStore).
 */
export const BINARY_DATA_KEY = "data";

export const binaryStore: Store = {
  format: "binary",
  loadPlain(data, o) {
    checkSize(data.length, o?.file);
    return [new Branch([{ key: BINARY_DATA_KEY, value: new Uint8Array(data) }])];
  },
  loadEncrypted(data, o) {
    const r = jsonStore.loadEncrypted(data, o);
    const v = r.tree[0]?.get(BINARY_DATA_KEY);
    if (typeof v !== "string") {
      throw malformed("binary sops file", 'it has no "data" string; if it is an encrypted JSON document, pass --input-type json');
    }
    return r;
  },
  emitPlain(tree) {
    return bytesOf(tree[0]?.get(BINARY_DATA_KEY) ?? null);
  },
  emitEncrypted(tree, metadata, o) {
    return jsonStore.emitEncrypted(tree, metadata, o);
  },
  emitValue(v) {
    return bytesOf(v);
  },
  hasMetadata() {
    // Raw bytes cannot carry metadata; encrypting an encrypted file twice is still caught
    // by the caller looking at the bytes as JSON if it wants to.
    return false;
  },
};

function bytesOf(v: Value): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return Buffer.from(v, "utf8");
  throw malformed("binary sops file", 'its "data" value is not a string');
}
