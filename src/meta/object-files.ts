import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { statOrNothing } from "../io.js";
import type { ObjectFormat } from "./objects.js";

/**
 * Git objects read straight from `.git/objects`, without starting git: a config load reads a
 * commit, a few trees and a few blobs, and starting `git cat-file` cost it ~6 ms of ~20
 * (README "Start-up"). Loose objects are zlib files (`TYPE SIZE\0BODY`); packed ones are found
 * through each pack's `.idx` (version 2) and may be deltas against another object in the same
 * pack (OFS_DELTA) or named by id (REF_DELTA), as git's Documentation/gitformat-pack.txt
 * describes. It is only an accelerator: whatever it does not find, or finds in a form it does
 * not read, is `undefined`, and the caller asks git (which also fetches a partial clone's
 * missing objects, follows alternates and replace refs, and says what is wrong).
 *
 * Reads are synchronous: a load reads a commit, its trees down to three files and those files,
 * one after another (each names the next), a few hundred bytes to a few KiB each from the
 * kernel's page cache. Each system call then costs microseconds, where the same call through
 * libuv's thread pool costs a round trip (open, stat, read and close of each object), and a
 * first load spent ~3 ms waiting on them (README "Start-up"). Objects are inflated
 * synchronously in any case.
 */
export interface StoredObject {
  type: "commit" | "tree" | "blob" | "tag";
  body: Buffer;
}

const TYPES = [undefined, "commit", "tree", "blob", "tag"] as const;
const OFS_DELTA = 6;
const REF_DELTA = 7;
/** Deltas on deltas: git's own packs stay under 50 (pack.depth); a longer chain is not ours to read. */
const MAX_CHAIN = 4096;

interface Pack {
  path: string;
  /** File descriptors, closed by {@link ObjectFiles.close}. */
  idx: number;
  pack?: number;
  packSize: number;
  fanout: Uint32Array;
  count: number;
}

export class ObjectFiles {
  private readonly objectsDir: string;
  private readonly hashLen: number;
  private packs: Pack[] | undefined | null = null;

  private constructor(objectsDir: string, format: ObjectFormat) {
    this.objectsDir = objectsDir;
    this.hashLen = format === "sha1" ? 20 : 32;
  }

  /**
   * A reader of `objectsDir`, or undefined where what git would answer could differ from what
   * the files hold: alternates, replace refs (`commonDir/refs/replace`, in packed-refs too).
   */
  static open(objectsDir: string, commonDir: string, format: ObjectFormat): ObjectFiles | undefined {
    if (existsSync(join(objectsDir, "info/alternates")) || existsSync(join(commonDir, "refs/replace"))) return undefined;
    const packedRefs = join(commonDir, "packed-refs");
    if (existsSync(packedRefs) && readOrNothing(packedRefs)?.includes(" refs/replace/")) return undefined;
    return new ObjectFiles(objectsDir, format);
  }

  /** The object with this id (hex), or undefined when it is not here in a form read here, or larger than `maxBytes`. */
  read(id: string, maxBytes: number): StoredObject | undefined {
    if (id.length !== this.hashLen * 2 || !/^[0-9a-f]+$/.test(id)) return undefined;
    return this.loose(id, maxBytes) ?? this.packed(Buffer.from(id, "hex"), maxBytes, 0);
  }

  /** Closes the pack files this reader opened. */
  close(): void {
    for (const p of this.packs ?? []) {
      closeQuietly(p.idx);
      if (p.pack !== undefined) closeQuietly(p.pack);
    }
    this.packs = null;
  }

  private loose(id: string, maxBytes: number): StoredObject | undefined {
    // Asked first whether it is there (a packed object is not, and a failed open makes an error
    // object) and how large: a writer can push an object of incompressible bytes, which git keeps
    // loose when the push is small, and one larger than the limit could hold once deflated is not
    // read into memory here — git refuses it from its header (Git.catFile).
    const file = join(this.objectsDir, id.slice(0, 2), id.slice(2));
    const st = statOrNothing(file);
    if (!st?.isFile() || st.size > deflatedBound(maxBytes + 32)) return undefined;
    const raw = readOrNothing(file);
    if (!raw) return undefined;
    let data: Buffer;
    try {
      // The header is at most ~30 bytes; past the limit the object is too large to be read here.
      data = inflateSync(raw, { maxOutputLength: maxBytes + 32 });
    } catch {
      return undefined;
    }
    const nul = data.indexOf(0);
    const m = nul > 0 ? /^(commit|tree|blob|tag) (\d+)$/.exec(data.subarray(0, nul).toString("latin1")) : null;
    if (!m || Number(m[2]) !== data.length - nul - 1) return undefined;
    return { type: m[1] as StoredObject["type"], body: data.subarray(nul + 1) };
  }

  private packList(): Pack[] | undefined {
    if (this.packs !== null) return this.packs;
    this.packs = [];
    const dir = join(this.objectsDir, "pack");
    let names: string[] = [];
    try {
      names = existsSync(dir) ? readdirSync(dir) : [];
    } catch {
      /* an unreadable folder holds nothing read here */
    }
    for (const n of names.filter((f) => f.endsWith(".idx")).sort()) {
      const idx = openSync(join(dir, n), "r");
      const head = Buffer.alloc(8 + 256 * 4);
      const bytesRead = readSync(idx, head, 0, head.length, 0);
      // Version 2 (`\377tOc`, 2): what git has written since 1.5.2; anything else goes to git.
      if (bytesRead !== head.length || head.readUInt32BE(0) !== 0xff744f63 || head.readUInt32BE(4) !== 2) {
        closeQuietly(idx);
        this.close();
        this.packs = undefined;
        return undefined;
      }
      const fanout = new Uint32Array(256);
      for (let i = 0; i < 256; i++) fanout[i] = head.readUInt32BE(8 + i * 4);
      this.packs.push({ path: join(dir, `${n.slice(0, -4)}.pack`), idx, packSize: 0, fanout, count: fanout[255] as number });
    }
    return this.packs;
  }

  /** Where the object is in a pack: the pack and its offset, by a binary search of the idx's sorted ids. */
  private find(id: Buffer): { pack: Pack; offset: number } | undefined {
    const packs = this.packList();
    if (!packs) return undefined;
    const h = this.hashLen;
    for (const pack of packs) {
      const first = id[0] as number;
      const lo = first === 0 ? 0 : (pack.fanout[first - 1] as number);
      const hi = pack.fanout[first] as number;
      if (hi <= lo) continue;
      const names = Buffer.alloc((hi - lo) * h);
      readSync(pack.idx, names, 0, names.length, 8 + 1024 + lo * h);
      let a = 0;
      let b = hi - lo;
      while (a < b) {
        const mid = (a + b) >>> 1;
        // <0: the id at mid sorts before the one sought.
        const c = names.compare(id, 0, h, mid * h, mid * h + h);
        if (c === 0) {
          const at = lo + mid;
          // After the ids: a CRC32 per object, then a 4-byte offset per object; its top bit set
          // means an index into the 8-byte offsets that follow.
          const offTable = 8 + 1024 + pack.count * (h + 4);
          const four = Buffer.alloc(4);
          readSync(pack.idx, four, 0, 4, offTable + at * 4);
          let offset = four.readUInt32BE(0);
          if (offset & 0x80000000) {
            const eight = Buffer.alloc(8);
            readSync(pack.idx, eight, 0, 8, offTable + pack.count * 4 + (offset & 0x7fffffff) * 8);
            offset = Number(eight.readBigUInt64BE(0));
          }
          return { pack, offset };
        }
        if (c < 0) a = mid + 1;
        else b = mid;
      }
    }
    return undefined;
  }

  private packed(id: Buffer, maxBytes: number, depth: number): StoredObject | undefined {
    const at = this.find(id);
    return at ? this.entry(at.pack, at.offset, maxBytes, depth) : undefined;
  }

  /** The object at `offset` in `pack`, its delta chain applied. */
  private entry(pack: Pack, offset: number, maxBytes: number, depth: number): StoredObject | undefined {
    if (depth > MAX_CHAIN) return undefined;
    if (pack.pack === undefined) {
      pack.pack = openSync(pack.path, "r");
      pack.packSize = fstatSync(pack.pack).size;
    }
    const end = pack.packSize - this.hashLen;
    if (offset < 12 || offset >= end) return undefined;
    const head = Buffer.alloc(Math.min(32 + this.hashLen, end - offset));
    readSync(pack.pack, head, 0, head.length, offset);
    let p = 0;
    let byte = head[p++] as number;
    const type = (byte >> 4) & 7;
    let size = byte & 15;
    let mul = 16;
    while (byte & 0x80) {
      if (p >= head.length || mul > 2 ** 49) return undefined;
      byte = head[p++] as number;
      size += (byte & 0x7f) * mul;
      mul *= 128;
    }
    let base: StoredObject | undefined;
    if (type === OFS_DELTA) {
      byte = head[p++] as number;
      let back = byte & 0x7f;
      while (byte & 0x80) {
        if (p >= head.length || back > 2 ** 45) return undefined;
        byte = head[p++] as number;
        back = (back + 1) * 128 + (byte & 0x7f);
      }
      if (back <= 0 || back > offset) return undefined;
      base = this.entry(pack, offset - back, maxBytes, depth + 1);
      if (!base) return undefined;
    } else if (type === REF_DELTA) {
      if (p + this.hashLen > head.length) return undefined;
      const baseId = head.subarray(p, p + this.hashLen);
      p += this.hashLen;
      base = this.loose(baseId.toString("hex"), maxBytes) ?? this.packed(Buffer.from(baseId), maxBytes, depth + 1);
      if (!base) return undefined;
    } else if (!TYPES[type]) {
      return undefined;
    }
    // A delta's instructions are at most 8 bytes for each byte they copy, 1 + 127 for 127 they insert.
    if (size > (base ? 8 * maxBytes + 64 : maxBytes)) return undefined;
    // What follows the header within the bound holds the whole stream, and inflate stops at its end.
    const room = Math.min(deflatedBound(size), end - offset - p);
    const deflated = Buffer.alloc(room);
    readSync(pack.pack, deflated, 0, room, offset + p);
    let data: Buffer;
    try {
      data = inflateSync(deflated, { maxOutputLength: Math.max(size, 1) });
    } catch {
      return undefined;
    }
    if (data.length !== size) return undefined;
    if (!base) return { type: TYPES[type] as StoredObject["type"], body: data };
    const body = applyDelta(base.body, data, maxBytes);
    return body ? { type: base.type, body } : undefined;
  }
}

/** The most bytes zlib can take to hold `size` bytes: a few per 16 KiB block (stored, at worst) and 11 in all. */
function deflatedBound(size: number): number {
  return size + Math.ceil(size / 16_000) * 5 + 64;
}

function readOrNothing(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}

/** A git delta (copy-from-base and insert instructions) applied to `base`; undefined when malformed or over `maxBytes`. */
export function applyDelta(base: Buffer, delta: Buffer, maxBytes: number): Buffer | undefined {
  let p = 0;
  const varint = (): number | undefined => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (p >= delta.length || mul > 2 ** 49) return undefined;
      const b = delta[p++] as number;
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (!(b & 0x80)) return v;
    }
  };
  const srcSize = varint();
  const dstSize = varint();
  if (srcSize !== base.length || dstSize === undefined || dstSize > maxBytes) return undefined;
  const out = Buffer.alloc(dstSize);
  let o = 0;
  while (p < delta.length) {
    const op = delta[p++] as number;
    if (op & 0x80) {
      let off = 0;
      let len = 0;
      for (let i = 0; i < 4; i++) if (op & (1 << i)) off += (delta[p++] ?? 0) * 2 ** (8 * i);
      for (let i = 0; i < 3; i++) if (op & (16 << i)) len += (delta[p++] ?? 0) * 2 ** (8 * i);
      if (len === 0) len = 0x10000;
      if (p > delta.length || off + len > base.length || o + len > dstSize) return undefined;
      base.copy(out, o, off, off + len);
      o += len;
    } else if (op > 0) {
      if (p + op > delta.length || o + op > dstSize) return undefined;
      delta.copy(out, o, p, p + op);
      o += op;
      p += op;
    } else {
      return undefined; // opcode 0 is reserved
    }
  }
  return o === dstSize ? out : undefined;
}
