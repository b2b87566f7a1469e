import { isUtf8 } from "node:buffer";

/**
 * Names in git are bytes; boot-meta's paths are strings. Anyone who can push can commit any
 * bytes but NUL and "/" into a name, so the two must map one to one: valid UTF-8 decodes as
 * usual, and each byte that is not part of valid UTF-8 becomes the lone surrogate
 * U+DC80–U+DCFF (Python's "surrogateescape", PEP 383). No valid UTF-8 decodes to a lone
 * surrogate, so two different names never meet as one string, and every name read from a
 * tree can be asked for again and written back byte for byte.
 */
export function decodeName(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const n = validSequence(bytes, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + (bytes[i] as number));
      i += 1;
    } else {
      out += Buffer.from(bytes.subarray(i, i + n)).toString("utf8");
      i += n;
    }
  }
  return out;
}

/** The bytes of a name: the inverse of {@link decodeName}. */
export function encodeName(name: string): Buffer {
  if (!/[\uD800-\uDFFF]/.test(name)) return Buffer.from(name, "utf8");
  const parts: Buffer[] = [];
  let run = "";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0xdc80 && c <= 0xdcff) {
      parts.push(Buffer.from(run, "utf8"), Buffer.from([c - 0xdc00]));
      run = "";
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < name.length && name.charCodeAt(i + 1) >= 0xdc00 && name.charCodeAt(i + 1) <= 0xdfff) {
      run += name.slice(i, i + 2);
      i++;
    } else run += name[i];
  }
  parts.push(Buffer.from(run, "utf8"));
  return Buffer.concat(parts);
}

/**
 * A path as a message shows it: as is when it is plain, JSON-quoted when it holds a control
 * character, a quote, a backslash or a byte that is not UTF-8 — so a name with a newline
 * cannot forge a line of output.
 */
export function showPath(path: string): string {
  return /[\x00-\x1f\x7f"\\\uD800-\uDFFF\u2028\u2029]/.test(path) ? JSON.stringify(path) : path;
}

/** Length of the valid UTF-8 sequence at `i` (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF), or 0. */
function validSequence(b: Uint8Array, i: number): number {
  const c0 = b[i] as number;
  if (c0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && (b[i + k] as number) >= lo && (b[i + k] as number) <= hi;
  if (c0 >= 0xc2 && c0 <= 0xdf) return cont(1) ? 2 : 0;
  if (c0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c0 >= 0xe1 && c0 <= 0xec) || c0 === 0xee || c0 === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c0 >= 0xf1 && c0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
