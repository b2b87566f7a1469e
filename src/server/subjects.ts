import { type Change, projectOfPath } from "./mirror.js";
// The subjects themselves are named in records/subjects.ts, where the agent (below the server) reads them too.
export { changesSubject, channelSubject, decodeToken, encodeToken, HEAD_SUBJECT, SUBJECT_ROOT } from "../records/subjects.js";

/** What one project's subscribers see of a change: that project's paths only, never a value. */
export function changeFor(c: Change, project: string): Change {
  return { ...c, paths: c.paths.filter((p) => projectOfPath(p, c.projects) === project), projects: [project] };
}

/**
 * The channel files (`<project>/channels/<channel>.json`, records/files.ts) a change touched.
 * `channels` is reserved in project names (layout.ts), so a path splits there one way only.
 */
export function channelsOf(c: Change): { project: string; channel: string; path: string }[] {
  const out: { project: string; channel: string; path: string }[] = [];
  for (const path of c.paths) {
    const project = projectOfPath(path, c.projects);
    if (project === undefined) continue;
    const m = /^channels\/([^/]+)\.json$/.exec(path.slice(project.length + 1));
    if (m) out.push({ project, channel: m[1] as string, path });
  }
  return out;
}
