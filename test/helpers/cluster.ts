/**
 * A cluster on one machine, for tests: a private PostgreSQL, host agents
 * (`hangar serve --role host`) and API replicas (`--role api`) as real child
 * processes on loopback, all sharing one cluster secret. The fake driver by
 * default; `extraArgs` of a host pass anything else (the qemu driver, its netns).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestPostgres, type TestPostgres } from './postgres.ts';
import { HANGAR, request } from './server-process.ts';

export const CLUSTER_SECRET = 'test-cluster-secret-0123456789';
export const CLUSTER_TOKEN = 'test-cluster-token';

export interface ClusterProcess {
  name: string;
  /** The API (replicas) or the agent API (hosts). */
  url: string;
  dataDir: string;
  child: ChildProcess;
  output(): string;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface HostSpec {
  id: string;
  region: string;
  extraArgs?: string[];
}

export interface TestCluster {
  pg: TestPostgres;
  storeUrl: string;
  replicas: ClusterProcess[];
  hosts: Map<string, ClusterProcess>;
  /** A JSON call to replica `index` with the API token. */
  call(index: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  startReplica(env?: Record<string, string>): Promise<ClusterProcess>;
  startHost(spec: HostSpec, dataDir?: string): Promise<ClusterProcess>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startCluster(options: { hosts: HostSpec[]; replicas: number; fakeTiming?: 'instant' | 'realistic'; durable?: boolean }): Promise<TestCluster> {
  const pg = await startTestPostgres({ durable: options.durable });
  const storeUrl = await pg.createDatabase();
  const dirs: string[] = [];
  const spawnServer = async (name: string, args: string[], dataDir?: string, env: Record<string, string> = {}): Promise<ClusterProcess> => {
    const dir = dataDir ?? mkdtempSync(join(tmpdir(), `hangar-cluster-${name}-`));
    if (!dataDir) dirs.push(dir);
    const child = spawn(HANGAR, ['serve', '--data-dir', dir, '--store', storeUrl, '--log-level', 'warn', ...args], {
      env: { ...process.env, HANGAR_CLUSTER_SECRET: CLUSTER_SECRET, HANGAR_API_TOKEN: CLUSTER_TOKEN, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    let output = '';
    child.stdout?.on('data', (chunk) => { output += chunk; });
    child.stderr?.on('data', (chunk) => { output += chunk; });
    const exited = new Promise<void>((resolve) => child.once('exit', () => { running.delete(child); resolve(); }));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 30_000);
      child.stderr?.on('data', () => {
        const match = /^hangar (?:host agent )?(http:\/\/[\d.:]+)/m.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1] as string);
        }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited (${code}):\n${output}`)); });
    });
    const end = async (signal: NodeJS.Signals) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.ref();
      child.kill(signal);
      await exited;
    };
    return { name, url, dataDir: dir, child, output: () => output, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
  };

  const cluster: TestCluster = {
    pg,
    storeUrl,
    replicas: [],
    hosts: new Map(),
    call: (index, method, path, body) => request({ url: (cluster.replicas[index] as ClusterProcess).url, token: CLUSTER_TOKEN }, method, path, body),
    async startReplica(env) {
      const replica = await spawnServer(`api-${cluster.replicas.length}`, ['--role', 'api', '--api-listen', '127.0.0.1:0'], undefined, env);
      cluster.replicas.push(replica);
      return replica;
    },
    async startHost(spec, dataDir) {
      const host = await spawnServer(spec.id, [
        '--role', 'host', '--host-id', spec.id, '--region', spec.region, '--agent-listen', '127.0.0.1:0',
        '--driver', 'fake', '--fake-timing', options.fakeTiming ?? 'realistic', ...(spec.extraArgs ?? []),
      ], dataDir);
      cluster.hosts.set(spec.id, host);
      return host;
    },
    async stop() {
      await Promise.all([...cluster.replicas, ...cluster.hosts.values()].map((p) => p.stop()));
      await pg.stop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(options.hosts.map((spec) => cluster.startHost(spec)));
    for (let i = 0; i < options.replicas; i++) await cluster.startReplica();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
