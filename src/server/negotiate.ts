import { BootMetaError, ExitCode } from "../errors.js";

/** A representation of a record the service can give: its proto3 JSON file or its protobuf encoding. */
export interface RecordMedia {
  format: "json" | "protobuf";
  /** The Content-Type of the answer. */
  type: string;
}

// In order of preference when the client likes several equally: JSON is the default (a
// browser's `*/*`, curl's), protobuf is given when asked for by name. `application/protobuf`
// is the type IANA registered since; `application/x-protobuf` is the one clients send today.
const OFFERS: readonly RecordMedia[] = [
  { format: "json", type: "application/json" },
  { format: "protobuf", type: "application/x-protobuf" },
  { format: "protobuf", type: "application/protobuf" },
];

interface Range {
  type: string;
  subtype: string;
  q: number;
}

function ranges(accept: string): Range[] {
  const out: Range[] = [];
  for (const part of accept.split(",")) {
    const [media = "", ...params] = part.split(";");
    const m = /^\s*([!#$%&'*+.^_`|~0-9a-z-]+)\/([!#$%&'*+.^_`|~0-9a-z-]+)\s*$/i.exec(media);
    if (!m) continue;
    let q = 1;
    for (const p of params) {
      const kv = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (kv) q = Math.min(1, Math.max(0, Number(kv[1]) || 0));
    }
    out.push({ type: (m[1] as string).toLowerCase(), subtype: (m[2] as string).toLowerCase(), q });
  }
  return out;
}

/**
 * The representation to answer with, by the request's `Accept` (RFC 9110 §12.5.1): each offer
 * takes the q of the most specific range that matches it (`application/json` over
 * `application/*` over `*` + `/*`); the highest q wins, then the more specific match, then the
 * order above. No Accept header, or an empty one: JSON. Throws SERVER_NOT_ACCEPTABLE (406)
 * when no offer is acceptable (`Accept: text/html` alone, or every offer at q=0).
 */
export function recordMedia(accept: string | undefined): RecordMedia {
  if (accept === undefined || accept.trim() === "") return OFFERS[0] as RecordMedia;
  const rs = ranges(accept);
  let best: { offer: RecordMedia; q: number; specificity: number } | undefined;
  for (const offer of OFFERS) {
    const [type, subtype] = offer.type.split("/") as [string, string];
    let match: { q: number; specificity: number } | undefined;
    for (const r of rs) {
      const specificity = r.type === type && r.subtype === subtype ? 2 : r.type === type && r.subtype === "*" ? 1 : r.type === "*" && r.subtype === "*" ? 0 : -1;
      if (specificity >= 0 && (!match || specificity > match.specificity)) match = { q: r.q, specificity };
    }
    if (!match || match.q <= 0) continue;
    if (!best || match.q > best.q || (match.q === best.q && match.specificity > best.specificity)) best = { offer, ...match };
  }
  if (best) return best.offer;
  throw new BootMetaError("SERVER_NOT_ACCEPTABLE", `cannot answer with ${JSON.stringify(accept.slice(0, 200))}: records are served as application/json (their proto3 JSON files) or application/x-protobuf (their protobuf encoding)`, ExitCode.InvalidArgument, {
    data: { accept: accept.slice(0, 200), offers: OFFERS.map((o) => o.type) },
    suggestions: ["send `Accept: application/json`, `Accept: application/x-protobuf`, or no Accept header (JSON)"],
  });
}

/** `If-None-Match` (RFC 9110 §13.1.2): `*`, or a list of ETags compared weakly. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
