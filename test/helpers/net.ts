import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { tempDir } from "./gitdir.js";

/** A TCP port of 127.0.0.1 that nothing listened on a moment ago. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * A real nats-server (the Debian package's /usr/sbin/nats-server) on 127.0.0.1:`port` with a
 * user and password, JetStream on by default (its store in a temp dir kept across restarts).
 */
export class NatsServer {
  private proc: ChildProcess | undefined;
  readonly storeDir = tempDir("nats-store-");
  readonly port: number;
  readonly user: string;
  readonly pass: string;
  private readonly jetStream: boolean;

  constructor(port: number, o: { user: string; pass: string; jetStream?: boolean }) {
    this.port = port;
    this.user = o.user;
    this.pass = o.pass;
    this.jetStream = o.jetStream ?? true;
  }

  get url(): string {
    return `nats://${this.user}:${this.pass}@127.0.0.1:${this.port}`;
  }

  /** Starts it and waits until it says it is ready. */
  async start(): Promise<void> {
    const p = spawn("/usr/sbin/nats-server", ["-a", "127.0.0.1", "-p", String(this.port), ...(this.jetStream ? ["-js", "-sd", this.storeDir] : []), "--user", this.user, "--pass", this.pass], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.proc = p;
    let log = "";
    await new Promise<void>((resolve, reject) => {
      p.stderr?.on("data", (d: Buffer) => {
        log += String(d);
        if (log.includes("Server is ready")) resolve();
      });
      p.once("exit", (code) => reject(new Error(`nats-server exited (${code}) before it was ready:\n${log}`)));
    });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((resolve) => p.once("exit", resolve));
    p.kill("SIGTERM");
    await exited;
  }
}
