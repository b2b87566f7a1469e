import { BootMetaError, ExitCode } from "../errors.js";
import { DEFAULT_SELECTION, SELECTION_KINDS, type SelectionRule } from "./selection.js";
import { Branch, type Value } from "./tree.js";

/**
 * The sops version whose on-disk behaviour boot-meta writes (metadata layout of 3.13: keys
 * sorted at every level). It must parse as semver: sops refuses files whose `version` does
 * not (cmd/sops/common/common.go:203-217).
 */
export const SOPS_FORMAT_VERSION = "3.13.1";

export interface AgeEntry {
  recipient: string;
  enc: string;
}
export interface PgpEntry {
  fp: string;
  enc: string;
  createdAt: string;
}
/** One key group: every master key in it wraps the same data key (or the same Shamir share). */
export interface KeyGroup {
  age: AgeEntry[];
  pgp: PgpEntry[];
  /** kms, gcp_kms, azure_kv, hc_vault, hckms entries: kept verbatim so a rewrite does not drop them. */
  other: Record<string, Branch[]>;
}

export interface Metadata {
  keyGroups: KeyGroup[];
  shamirThreshold: number;
  lastModified: string;
  mac: string;
  /** The rule written in the file; undefined when the file names none (then `_unencrypted` applies). */
  selection: SelectionRule | undefined;
  macOnlyEncrypted: boolean;
  version: string;
}

export function effectiveSelection(m: Metadata): SelectionRule {
  return m.selection ?? DEFAULT_SELECTION;
}

const OTHER_KINDS = ["kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function invalid(message: string, file?: string): BootMetaError {
  return new BootMetaError("SOPS_INVALID_METADATA", `${file ? `${file}: ` : ""}the sops metadata is invalid: ${message}`, ExitCode.InvalidFormat, {
    data: file ? { file } : {},
    suggestions: ["restore the file from git history; hand edits to the `sops` section break it"],
  });
}

/** mapstructure's weak typing: flattened formats store every scalar as a string. */
function str(v: Value | undefined, field: string, file?: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return String(v);
  throw invalid(`${field} should be a string`, file);
}

function list(v: Value | undefined, field: string, file?: string): Branch[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`${field} should be a list`, file);
  return v.map((e, i) => {
    if (!(e instanceof Branch)) throw invalid(`${field}[${i}] should be a map`, file);
    return e;
  });
}

function parseGroup(b: Branch, where: string, file?: string): KeyGroup {
  const age = list(b.get("age"), `${where}age`, file).map((e, i) => {
    const recipient = str(e.get("recipient"), `${where}age[${i}].recipient`, file).trim();
    const enc = str(e.get("enc"), `${where}age[${i}].enc`, file);
    if (!recipient || !enc) throw invalid(`${where}age[${i}] needs both recipient and enc`, file);
    return { recipient, enc };
  });
  const pgp = list(b.get("pgp"), `${where}pgp`, file).map((e, i) => ({
    fp: str(e.get("fp"), `${where}pgp[${i}].fp`, file),
    enc: str(e.get("enc"), `${where}pgp[${i}].enc`, file),
    createdAt: str(e.get("created_at"), `${where}pgp[${i}].created_at`, file),
  }));
  const other: Record<string, Branch[]> = {};
  for (const k of OTHER_KINDS) {
    const l = list(b.get(k), `${where}${k}`, file);
    if (l.length) other[k] = l;
  }
  return { age, pgp, other };
}

function groupSize(g: KeyGroup): number {
  return g.age.length + g.pgp.length + Object.values(g.other).reduce((n, l) => n + l.length, 0);
}

/** Reads the `sops` map the way sops does (stores/stores.go:262-390, metadata.go:87-178). */
export function parseMetadata(b: Branch, file?: string): Metadata {
  const top = parseGroup(b, "", file);
  let keyGroups: KeyGroup[];
  // Any top-level key list wins over key_groups (stores.go internalKeygroups).
  if (groupSize(top) > 0) keyGroups = [top];
  else {
    keyGroups = list(b.get("key_groups"), "key_groups", file).map((g, i) => parseGroup(g, `key_groups[${i}].`, file));
    if (keyGroups.length === 0) throw invalid("no keys found in the file (no age, pgp or other master keys)", file);
  }
  const lastModified = str(b.get("lastmodified"), "lastmodified", file);
  if (!RFC3339.test(lastModified)) throw invalid(`lastmodified ${JSON.stringify(lastModified)} is not an RFC 3339 time`, file);
  const rules = SELECTION_KINDS.filter((k) => str(b.get(k), k, file) !== "");
  if (rules.length > 1) throw invalid(`it names more than one selection rule (${rules.join(", ")}); sops allows one`, file);
  const kind = rules[0];
  const thresholdText = str(b.get("shamir_threshold"), "shamir_threshold", file);
  // Old dotenv/INI files stored the threshold as "2.0" (v3.12.2 stores/flatten.go).
  const shamirThreshold = thresholdText === "" ? 0 : Number(thresholdText);
  if (!Number.isInteger(shamirThreshold) || shamirThreshold < 0 || shamirThreshold > 255) throw invalid(`shamir_threshold ${JSON.stringify(thresholdText)} is not a whole number from 0 to 255`, file);
  const macOnlyText = str(b.get("mac_only_encrypted"), "mac_only_encrypted", file).toLowerCase();
  if (!["", "true", "false", "1", "0", "t", "f"].includes(macOnlyText)) throw invalid("mac_only_encrypted should be a boolean", file);
  return {
    keyGroups,
    shamirThreshold,
    lastModified,
    mac: str(b.get("mac"), "mac", file),
    selection: kind ? { kind, value: str(b.get(kind), kind, file) } : undefined,
    macOnlyEncrypted: ["true", "1", "t"].includes(macOnlyText),
    version: str(b.get("version"), "version", file),
  };
}

const sorted = (entries: [string, Value][]) => new Branch(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value })));

function groupEntries(g: KeyGroup, inKeyGroups: boolean): [string, Value][] {
  const out: [string, Value][] = [];
  // In key_groups, `age` and `hc_vault` have no omitempty (stores.go keygroup): always written.
  if (g.age.length || inKeyGroups) out.push(["age", g.age.map((a) => sorted([["enc", a.enc], ["recipient", a.recipient]]))]);
  if (g.pgp.length) out.push(["pgp", g.pgp.map((p) => sorted([["created_at", p.createdAt], ["enc", p.enc], ["fp", p.fp]]))]);
  for (const k of OTHER_KINDS) {
    const l = g.other[k] ?? [];
    if (l.length || (inKeyGroups && k === "hc_vault")) out.push([k, l]);
  }
  return out;
}

/**
 * Builds the `sops` map as sops 3.13 writes it: mapstructure → map → keys sorted bytewise
 * at every level (stores/metadata.go:200-266); empty top-level lists omitted.
 */
export function serializeMetadata(m: Metadata): Branch {
  const e: [string, Value][] = [];
  if (m.keyGroups.length === 1) e.push(...groupEntries(m.keyGroups[0] as KeyGroup, false));
  else e.push(["key_groups", m.keyGroups.map((g) => sorted(groupEntries(g, true)))]);
  e.push(["lastmodified", m.lastModified], ["mac", m.mac], ["version", m.version]);
  if (m.shamirThreshold > 0 && m.keyGroups.length > 1) e.push(["shamir_threshold", BigInt(m.shamirThreshold)]);
  if (m.macOnlyEncrypted) e.push(["mac_only_encrypted", true]);
  if (m.selection) e.push([m.selection.kind, m.selection.value]);
  return sorted(e);
}

/** `time.Now().UTC().Format(time.RFC3339)`: seconds precision, `Z`. */
export function formatLastModified(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The age recipients of each key group, in file order. */
export function recipientsOf(m: Metadata): string[][] {
  return m.keyGroups.map((g) => g.age.map((a) => a.recipient));
}
