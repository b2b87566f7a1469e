import { describe, expect, it } from "vitest";
import { changedKeys } from "../../src/config/diff.js";
import { SseParser } from "../../src/config/sse.js";

describe("the event-stream parser (HTML standard, event stream interpretation)", () => {
  it("dispatches on a blank line, joins data lines, keeps the last id and skips comments", () => {
    const p = new SseParser();
    expect(p.push("retry: 2000\n: a comment\n\nid: c1\nevent: change\ndata: {\"a\":1}\ndata: x\n\n")).toEqual([{ event: "change", data: '{"a":1}\nx', id: "c1" }]);
    expect(p.retry).toBe(2000);
    // No id: the last one holds. No event: "message".
    expect(p.push("data:y\n\n")).toEqual([{ event: "message", data: "y", id: "c1" }]);
  });

  it("reads CRLF, CR and LF line ends, split anywhere between chunks", () => {
    const text = "id: a\r\nevent: change\rdata: 1\r\n\r\nevent: reset\ndata: 2\r\r";
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      const got = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(got, `cut at ${cut}`).toEqual([
        { event: "change", data: "1", id: "a" },
        { event: "reset", data: "2", id: "a" },
      ]);
    }
  });

  it("ignores an id with NUL, a retry that is not digits, and an event with no data", () => {
    const p = new SseParser("start");
    expect(p.push("id: x\0y\nretry: 5s\nevent: change\n\ndata\n\n")).toEqual([{ event: "message", data: "", id: "start" }]);
    expect(p.retry).toBeUndefined();
  });

  it("refuses an event that grows past its limit", () => {
    const p = new SseParser();
    expect(() => p.push(`data: ${"x".repeat(2 * 1024 * 1024)}`)).toThrow(/more than/);
  });
});

describe("changedKeys", () => {
  it("names leaves that changed, appeared or went away; lists as a whole; never a value", () => {
    const before = { db: { url: "a", pool: 5 }, hosts: [1, 2], gone: true, same: { x: [{ y: 1 }] } };
    const after = Object.assign(Object.create(null) as Record<string, unknown>, { db: { url: "b", pool: 5 }, hosts: [1, 2, 3], added: { deep: 1 }, same: { x: [{ y: 1 }] } });
    expect(changedKeys(before, after)).toEqual(["added.deep", "db.url", "gone", "hosts"]);
    expect(changedKeys(after, after)).toEqual([]);
  });
});
