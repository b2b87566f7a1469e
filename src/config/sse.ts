/**
 * A Server-Sent Events parser, as the HTML standard's "event stream interpretation" reads a
 * stream (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
 * lines end in CRLF, LF or CR; a blank line dispatches; `:` starts a comment; a field's value
 * loses one leading space; `data` lines join with LF; an `id` holding NUL is ignored; `retry`
 * takes only digits. Pure: text in, events out (eventsource-parser does this too, but needs
 * Node 22).
 */
export interface SseEvent {
  /** The event type (`message` when the stream names none). */
  event: string;
  data: string;
  /** The last event id the stream set, as the standard keeps it across events. */
  id: string | undefined;
}

/** Past this many characters in one event, the stream is not one a client should buffer. */
const MAX_EVENT_CHARS = 1024 * 1024;

export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private type = "";
  private lastId: string | undefined;
  private pendingCr = false;
  private size = 0;
  /** The reconnection time the stream asked for (`retry:`), in ms. */
  retry: number | undefined;

  constructor(lastEventId?: string) {
    this.lastId = lastEventId;
  }

  /** Feeds decoded text; returns the events it completed. Throws when one event grows past the limit. */
  push(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    let s = this.buffer + text;
    // A CR at the end of the last chunk already ended its line; an LF starting this one belongs to it.
    if (this.pendingCr && s.startsWith("\n")) s = s.slice(1);
    this.pendingCr = false;
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(s.slice(start, i), out);
      if (c === 13) {
        if (i + 1 === s.length) this.pendingCr = true;
        else if (s.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.buffer = s.slice(start);
    if (this.size + this.buffer.length > MAX_EVENT_CHARS) throw new Error(`an event of more than ${MAX_EVENT_CHARS} characters`);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === "") {
      if (this.data.length > 0) out.push({ event: this.type || "message", data: this.data.join("\n"), id: this.lastId });
      this.data = [];
      this.type = "";
      this.size = 0;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    this.size += line.length;
    switch (field) {
      case "data":
        this.data.push(value);
        break;
      case "event":
        this.type = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
    }
  }
}
