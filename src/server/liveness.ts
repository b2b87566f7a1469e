/**
 * What the service knows of an instance between commits: its last report. Liveness stays out
 * of git (100,000 instances reporting every 30 s would be ~3,300 commits a second); only a
 * change of an instance's state is committed. One replica keeps it in memory; replicas share
 * it through a NATS JetStream key-value bucket (nats.ts).
 */
export interface InstanceLiveness {
  project: string;
  id: string;
  /** What the instance says it is doing: running, starting, stopped, failed… */
  status: string;
  /** The release id it runs. */
  release?: string;
  /** Its health as it reports it: healthy, unhealthy, unknown. */
  health?: string;
  /** The last error it reported, if any. */
  lastError?: string;
  /** When the service last heard from it (ISO 8601). */
  lastSeen: string;
}

export interface LivenessStore {
  put(entry: InstanceLiveness): Promise<void>;
  get(project: string, id: string): Promise<InstanceLiveness | undefined>;
  /** Every instance of a project the store has heard from. */
  list(project: string): Promise<InstanceLiveness[]>;
  close(): Promise<void>;
}

/** One replica's liveness, in memory: lost on restart, rebuilt by the next round of reports. */
export class MemoryLiveness implements LivenessStore {
  private readonly byProject = new Map<string, Map<string, InstanceLiveness>>();

  async put(entry: InstanceLiveness): Promise<void> {
    let m = this.byProject.get(entry.project);
    if (!m) this.byProject.set(entry.project, (m = new Map()));
    m.set(entry.id, entry);
  }

  async get(project: string, id: string): Promise<InstanceLiveness | undefined> {
    return this.byProject.get(project)?.get(id);
  }

  async list(project: string): Promise<InstanceLiveness[]> {
    return [...(this.byProject.get(project)?.values() ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async close(): Promise<void> {
    this.byProject.clear();
  }
}
