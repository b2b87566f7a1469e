import { createHash } from "node:crypto";
import { developerOf } from "./layout.js";
import { envReaders, expandReaders, type MetaConfig, own, promotionGate } from "./model.js";

/** The part of the repository a path is in, for the write rules. */
export type WriteArea =
  | { area: "admin" }
  | { area: "defaults"; project: string }
  | { area: "env"; project: string; env: string }
  | { area: "channel"; project: string; channel: string }
  | { area: "releases"; project?: string }
  | { area: "instances"; project: string }
  /** An admin's signed approval of one admin-area change: `approvals/admin/<change>/<principal>.json`. */
  | { area: "approval"; change: string; principal: string }
  /** A principal's approval of a release for a channel: `<project>/approvals/<channel>/<release-id>/<principal>.json`. */
  | { area: "channel-approval"; project: string; channel: string; release: string; principal: string };

/** Who may write a path: the rule that decides it (for messages) and the principals it names. */
export interface Writers {
  where: WriteArea;
  /** The rule, as `.boot-meta.yaml` would say it: `write.envs.prod`, or `write.envs.prod (default: the env's readers)`. */
  rule: string;
  /** Principal names (groups and `$owner` expanded), sorted. */
  principals: string[];
  /** True when the rule says `*`: any principal with a key. */
  anyone: boolean;
}

/**
 * What part of the repository `path` belongs to. `projects` are the project folders of the
 * trees being compared (the deepest one containing the path wins: names may have slashes).
 */
export function areaOf(path: string, projects: readonly string[]): WriteArea {
  const project = projects.filter((p) => path.startsWith(`${p}/`)).sort((a, b) => b.length - a.length)[0];
  if (project === undefined) {
    const approval = /^approvals\/admin\/([0-9a-f]{64})\/([^/]+)\.json$/.exec(path);
    if (approval) return { area: "approval", change: approval[1] as string, principal: approval[2] as string };
    return path.startsWith("binaries/") ? { area: "releases" } : { area: "admin" };
  }
  const rest = path.slice(project.length + 1).split("/");
  const [dir] = rest;
  if (dir === "envs" && rest.length >= 3) return { area: "env", project, env: rest.slice(1, -1).join("/") };
  if (dir === "channels" && rest.length === 2) return { area: "channel", project, channel: (rest[1] as string).replace(/\.json$/, "") };
  if (dir === "approvals" && rest.length >= 4 && (rest.at(-1) as string).endsWith(".json")) {
    return { area: "channel-approval", project, channel: rest.slice(1, -2).join("/"), release: rest.at(-2) as string, principal: (rest.at(-1) as string).slice(0, -".json".length) };
  }
  if (dir === "approvals" && rest.length >= 3) return { area: "channel", project, channel: rest[1] as string };
  if (dir === "releases" || dir === "binaries" || dir === "imports") return { area: "releases", project };
  if (dir === "instances" || dir === "events") return { area: "instances", project };
  return { area: "defaults", project };
}

/** The defaults of the write rules: what a repo without `write:` allows. */
export const DEFAULT_WRITERS = {
  admin: ["admins"],
  defaults: ["admins"],
  channels: ["admins", "ci"],
  releases: ["admins", "ci"],
  instances: ["*"],
} as const;

/**
 * Who may change `path` under the rules in `c`. Env folders default to the env's readers (a
 * developer writes their own dev folder, prod servers and admins write prod); the project's
 * defaults, which every env inherits, to admins; the rules and keys to admins.
 */
export function writersOf(c: MetaConfig, path: string, projects: readonly string[]): Writers {
  return writersOfArea(c, areaOf(path, projects));
}

/**
 * Who may change the part of the repository `where` names. A channel or env named `*` stands
 * for any channel or env without a rule of its own (no real one has that name).
 */
export function writersOfArea(c: MetaConfig, where: WriteArea): Writers {
  const w = c.write ?? {};
  const make = (rule: string, names: readonly string[], owner?: string): Writers => ({
    where,
    rule,
    principals: expandReaders(c, names.filter((n) => n !== "*"), owner),
    anyone: names.includes("*"),
  });
  switch (where.area) {
    case "admin": {
      const q = adminQuorum(c) > 1 ? `, ${adminQuorum(c)} of them per change (write.quorum.admin)` : "";
      return w.admin ? make(`write.admin${q}`, w.admin) : make(`write.admin (default)${q}`, DEFAULT_WRITERS.admin);
    }
    case "defaults":
      return w.defaults ? make("write.defaults", w.defaults) : make("write.defaults (default)", DEFAULT_WRITERS.defaults);
    case "env": {
      const owner = developerOf(where.env);
      const envs = w.envs ?? {};
      const key = own(envs, where.env) ? where.env : owner && own(envs, "dev/*") ? "dev/*" : own(envs, "*") ? "*" : undefined;
      if (key !== undefined) return make(`write.envs.${key}`, own(envs, key) as string[], owner);
      return make(`write.envs.${where.env} (default: the env's readers)`, envReaders(c, where.env), owner);
    }
    case "channel": {
      const ch = w.channels ?? {};
      const key = own(ch, where.channel) ? where.channel : own(ch, "*") ? "*" : undefined;
      if (key !== undefined) return make(`write.channels.${key}`, own(ch, key) as string[]);
      return make("write.channels (default)", DEFAULT_WRITERS.channels);
    }
    case "releases":
      return w.releases ? make("write.releases", w.releases) : make("write.releases (default)", DEFAULT_WRITERS.releases);
    case "instances":
      return w.instances ? make("write.instances", w.instances) : make("write.instances (default)", DEFAULT_WRITERS.instances);
    case "approval": {
      // An approval is its own admin's word: only that admin writes (or withdraws) it.
      const admin = writersOfArea(c, { area: "admin" });
      return { where, rule: `approvals/admin: ${where.principal}'s own approval, if ${where.principal} may write the admin area`, principals: mayWrite(admin, where.principal) ? [where.principal] : [], anyone: false };
    }
    case "channel-approval": {
      // Like an admin's approval: the approver's own word, so only they write (or withdraw) it.
      const approvers = channelApprovers(c, where.project, where.channel);
      return { where, rule: `approvals of ${where.project}/${where.channel}: ${where.principal}'s own approval, if ${where.principal} may approve (${approvers.rule})`, principals: mayWrite(approvers, where.principal) ? [where.principal] : [], anyone: false };
    }
  }
}

/**
 * Who may approve a release for a channel (`channel approve`): the gate's `approvers` when
 * `.boot-meta.yaml` names them, else those who may write the channel.
 */
export function channelApprovers(c: MetaConfig, project: string, channel: string): Writers {
  const g = promotionGate(c, project, channel);
  const where: WriteArea = { area: "channel", project, channel };
  if (g?.gate.approvers) return { where, rule: `${g.rule}.approvers`, principals: expandReaders(c, g.gate.approvers.filter((n) => n !== "*")), anyone: g.gate.approvers.includes("*") };
  return writersOfArea(c, where);
}

/** How many different admins an admin-area change needs (write.quorum.admin; 1: its signer alone). */
export const adminQuorum = (c: MetaConfig): number => c.write?.quorum?.admin ?? 1;

/**
 * The id of an admin-area change, as approvals name it: a SHA-256 over each changed path with
 * the blob id it has after the change ("-" when removed), sorted — so it names the change's
 * content, whichever commit carries it (a proposal rebased on top of its approvals keeps it).
 */
export function adminChangeId(changes: readonly { path: string; blob: string | undefined }[]): string {
  const lines = changes.map((ch) => `${ch.path}\0${ch.blob ?? "-"}`).sort();
  return createHash("sha256").update(lines.join("\n")).digest("hex");
}

/** Whether `principal` (who holds a key at that state) may write under `w`. */
export const mayWrite = (w: Writers, principal: string): boolean => w.anyone || w.principals.includes(principal);
