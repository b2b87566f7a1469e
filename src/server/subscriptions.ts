import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { SUBSCRIPTIONS_DIR, validateName } from "../meta/layout.js";
import type { TreeReader } from "../meta/reader.js";
import { parseYamlValue } from "../yaml.js";
import { type Change, narrowChange } from "./mirror.js";


/** The event types a subscription can ask for; `change` is a commit reaching the served branch. */
export const EVENT_TYPES = ["change"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One subscriber, as its file says. The file holds no secret: `secret` names one. */
export interface Subscription {
  /** The file's name without `.yaml`: the subscription's name in logs, metrics and dead letters. */
  name: string;
  path: string;
  /** The file's blob id: a subscription disabled by a 410 comes back when its file changes. */
  blob: string;
  url: string;
  /** Deliver only changes touching these projects (empty: any). */
  projects: string[];
  /** Deliver only changes touching paths under these prefixes (empty: any). */
  paths: string[];
  events: EventType[];
  /** The name of the signing secret: the key `webhooks.secrets.<secret>` of the service's own config. */
  secret: string;
}

/** A file under subscriptions/ that cannot be used, and why (SERVER_SUBSCRIPTION_INVALID). */
export interface SubscriptionProblem {
  name: string;
  path: string;
  error: BootMetaError;
}

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const SECRET_NAME = /^[A-Za-z0-9_-]+$/;
const FIELDS = new Set(["url", "secret", "projects", "paths", "events", "description"]);

function invalid(path: string, why: string, field?: string): BootMetaError {
  return new BootMetaError("SERVER_SUBSCRIPTION_INVALID", `${path} is not a usable subscription: ${why}`, ExitCode.InvalidFormat, {
    data: { path, ...(field === undefined ? {} : { field }) },
    suggestions: [`fix ${path} (plain YAML: url, secret, and optionally projects, paths, events) and commit it; the other subscriptions are delivered meanwhile`],
  });
}

function list(path: string, v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "")) throw invalid(path, `${field} must be a list of non-empty strings`, field);
  return [...new Set(v as string[])];
}

/**
 * A subscription file's text as a Subscription, or SERVER_SUBSCRIPTION_INVALID naming the file
 * and the field: a map with `url` (http or https, no user:password — the file is plain text in
 * git), `secret` (a name, `[A-Za-z0-9_-]+`), and optional `projects`, `paths` (prefixes) and
 * `events` (`change`). Unknown fields are refused, so `project:` for `projects:` is a finding,
 * not a subscription that silently gets everything.
 */
export function parseSubscription(path: string, blob: string, text: string): Subscription {
  const file = path.split("/").at(-1) as string;
  const name = file.replace(/\.yaml$/, "");
  if (!file.endsWith(".yaml") || !NAME.test(name)) throw invalid(path, `a subscription is subscriptions/<name>.yaml with a name of [A-Za-z0-9._-]`);
  const doc = parseYamlValue(text, path, (why) => invalid(path, why));
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalid(path, "the top level must be a map");
  const o = doc as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !FIELDS.has(k));
  if (unknown.length) throw invalid(path, `unknown field${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (the fields are ${[...FIELDS].join(", ")})`, unknown[0]);
  if (typeof o.url !== "string" || o.url === "") throw invalid(path, "url is missing (the http or https URL to POST changes to)", "url");
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw invalid(path, `url ${JSON.stringify(o.url)} is not a URL`, "url");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid(path, `url must be http or https, not ${url.protocol.replace(/:$/, "")}`, "url");
  if (url.username !== "" || url.password !== "") throw invalid(path, "url must not hold a user name or password: the file is plain text in git; the receiver checks the signature instead", "url");
  if (typeof o.secret !== "string" || !SECRET_NAME.test(o.secret)) {
    throw invalid(path, `secret must be the name ([A-Za-z0-9_-]) of a signing secret under webhooks.secrets in the service's own config${o.secret === undefined ? "; it is missing" : ""}, never the secret itself`, "secret");
  }
  if (o.description !== undefined && typeof o.description !== "string") throw invalid(path, "description must be a string", "description");
  const projects = list(path, o.projects, "projects");
  for (const p of projects) {
    try {
      validateName("project", p);
    } catch (e) {
      throw invalid(path, `projects: ${isBootMetaError(e) ? e.message : String(e)}`, "projects");
    }
  }
  const paths = list(path, o.paths, "paths");
  for (const p of paths) if (p.startsWith("/") || p.split("/").includes("..")) throw invalid(path, `paths: ${JSON.stringify(p)} is not a path prefix in the meta repository (like shop/envs/prod/)`, "paths");
  const events = list(path, o.events ?? [...EVENT_TYPES], "events");
  for (const e of events) if (!(EVENT_TYPES as readonly string[]).includes(e)) throw invalid(path, `events: ${JSON.stringify(e)} is not an event type (there is: ${EVENT_TYPES.join(", ")})`, "events");
  return { name, path, blob, url: url.href, projects, paths, events: events as EventType[], secret: o.secret };
}

/**
 * Every file under subscriptions/ at the reader's commit: the usable ones, and the others with
 * their errors (one bad file never stops the rest).
 */
export async function readSubscriptions(r: TreeReader): Promise<{ subscriptions: Subscription[]; problems: SubscriptionProblem[] }> {
  const subscriptions: Subscription[] = [];
  const problems: SubscriptionProblem[] = [];
  const dir = await r.entry(SUBSCRIPTIONS_DIR);
  if (!dir || dir.mode !== "40000") return { subscriptions, problems };
  for (const c of await r.children(SUBSCRIPTIONS_DIR)) {
    const path = `${SUBSCRIPTIONS_DIR}/${c.name}`;
    const name = c.name.replace(/\.yaml$/, "");
    try {
      if (c.dir) throw invalid(path, "it is a directory; a subscription is one file, subscriptions/<name>.yaml");
      const entry = await r.entry(path);
      const bytes = await r.read(path);
      if (!entry || !bytes) continue;
      subscriptions.push(parseSubscription(path, entry.id, Buffer.from(bytes).toString("utf8")));
    } catch (e) {
      if (!isBootMetaError(e)) throw e;
      problems.push({ name, path, error: e.code === "SERVER_SUBSCRIPTION_INVALID" ? e : invalid(path, e.message) });
    }
  }
  return { subscriptions, problems };
}

/**
 * The change as this subscriber sees it — its paths and projects narrowed to its filters — or
 * undefined when nothing in it is theirs.
 */
export function narrowFor(s: Subscription, c: Change): Change | undefined {
  return narrowChange(c, { projects: s.projects, prefixes: s.paths });
}
