/**
 * NATS subjects the service publishes on (DESIGN.md "Project names in URLs and subjects"). A
 * subject is dot-separated tokens and `*`, `>`, `.` and whitespace mean something there, so a
 * name becomes one token by writing every byte of its UTF-8 outside `[A-Za-z0-9_-]` as `%XX`
 * (upper-case hex): `main/maintemplatev2` is `main%2Fmaintemplatev2`. Only those bytes are
 * kept, so the escape character is itself escaped and the encoding is one-to-one.
 */
export const SUBJECT_ROOT = "bootmeta";

/**
 * The repository-wide subject: the served branch's new head, for replicas to stay in step.
 * Two tokens, so it is never a project's subject (those have three or more) and
 * `bootmeta.*.changes` or `bootmeta.<project>.>` never match it.
 */
export const HEAD_SUBJECT = `${SUBJECT_ROOT}.head`;

const keep = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b === 0x2d;

/**
 * `text` as one subject token: bytes outside `[A-Za-z0-9_-]` as `<escape>XX`. The escape is
 * `%` in subjects; JetStream key-value keys refuse `%` (they allow `[-/_=.A-Za-z0-9]`), so the
 * liveness bucket's keys use `=` (nats-liveness.ts).
 */
export function encodeToken(text: string, escape: "%" | "=" = "%"): string {
  let out = "";
  for (const b of Buffer.from(text, "utf8")) out += keep(b) ? String.fromCharCode(b) : `${escape}${b.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}

/** The name a token stands for; undefined when it is not an encoding {@link encodeToken} makes. */
export function decodeToken(token: string, escape: "%" | "=" = "%"): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; ) {
    const c = token.charCodeAt(i);
    if (token[i] === escape) {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      const b = Number.parseInt(hex, 16);
      if (keep(b)) return undefined;
      bytes.push(b);
      i += 3;
    } else if (keep(c)) {
      bytes.push(c);
      i += 1;
    } else return undefined;
  }
  const text = new TextDecoder("utf-8", { fatal: true });
  try {
    return text.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/** `bootmeta.<project>.changes`: every commit that touched the project. */
export const changesSubject = (project: string) => `${SUBJECT_ROOT}.${encodeToken(project)}.changes`;

/** `bootmeta.<project>.channels.<channel>`: every commit that changed the channel's file. */
export const channelSubject = (project: string, channel: string) => `${SUBJECT_ROOT}.${encodeToken(project)}.channels.${encodeToken(channel)}`;
