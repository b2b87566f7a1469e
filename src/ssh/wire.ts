// The SSH wire encodings every SSH structure is made of (RFC 4251 §5): uint32, string and
// mpint, read and written. Keys (keys.ts) and signatures (sshsig.ts) are built on them.

/** A uint32, big-endian. */
export function sshUint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** An SSH string: its length as a uint32, then its bytes. */
export function sshString(b: Uint8Array | string): Buffer {
  const buf = typeof b === "string" ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return Buffer.concat([sshUint32(buf.length), buf]);
}

/** An SSH mpint of an unsigned big-endian number: minimal, with a 0 byte if the top bit is set. */
export function sshMpint(unsigned: Uint8Array): Buffer {
  let i = 0;
  while (i < unsigned.length && unsigned[i] === 0) i++;
  const b = Buffer.from(unsigned.subarray(i));
  return sshString(b.length && (b[0] as number) & 0x80 ? Buffer.concat([Buffer.alloc(1), b]) : b);
}

/**
 * Reads SSH encodings off a buffer. A read past the end (or a negative mpint) throws what
 * `fail` makes of the reason, so each format reports damage with its own typed error.
 */
export class SshReader {
  private off = 0;
  readonly buf: Buffer;
  private readonly fail: (why: string) => Error;

  constructor(buf: Uint8Array, fail: (why: string) => Error) {
    this.buf = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.fail = fail;
  }

  uint32(): number {
    if (this.off + 4 > this.buf.length) throw this.fail("it is truncated");
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  string(): Buffer {
    const n = this.uint32();
    if (n > this.buf.length - this.off) throw this.fail("it is truncated");
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }

  /** An mpint as unsigned big-endian bytes, without leading zeros. */
  mpint(): Buffer {
    const v = this.string();
    if (v.length && (v[0] as number) & 0x80) throw this.fail("it holds a negative number");
    let i = 0;
    while (i < v.length && v[i] === 0) i++;
    return v.subarray(i);
  }

  /** Skips `n` bytes (a fixed-size field such as a magic string). */
  skip(n: number): void {
    
    this.off += n;
  }

  /** What is left unread. */
  rest(): Buffer {
    return this.buf.subarray(this.off);
  }

  get done(): boolean {
    return this.off === this.buf.length;
  }
}

/**
 * The base64 body of the first `-----BEGIN label-----` … `-----END label-----` block of
 * `text`, decoded; undefined when there is no such block or its body is not base64.
 */
export function armoredBlock(text: string, label: string): Buffer | undefined {
  const begin = `-----BEGIN ${label}-----`;
  const start = text.indexOf(begin);
  if (start < 0) return undefined;
  const end = text.indexOf(`-----END ${label}-----`, start + begin.length);
  if (end < 0) return undefined;
  const body = text.slice(start + begin.length, end).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return undefined;
  return Buffer.from(body, "base64");
}
