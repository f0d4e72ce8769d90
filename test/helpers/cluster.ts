/**
 * A cluster on one machine, for tests: a private PostgreSQL, host agents
 * (`hangar serve --role host`) and API replicas (`--role api`) as real child
 * processes on loopback, set up as an operator would: a cluster authority, an
 * identity for the replicas and one per host, and each host's own database role.
 * The fake driver by default; `extraArgs` of a host pass anything else (the qemu
 * driver, its netns).
 */
import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { FAKE_LEDGER } from '../../src/drivers.ts';
import { createHostRole } from '../../src/store/postgres/host-roles.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { createAuthority, identityOf, issueIdentity, loadIdentity } from '../../src/system/cluster-pki.ts';
import { Agent, fetch as tlsFetch } from 'undici';
import type { FakeLedgerEntry } from '../../src/vmm/fake/fake-driver.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestPostgres, type TestPostgres } from './postgres.ts';
import { HANGAR, request } from './server-process.ts';

/** What a host's fake driver did to each machine's pretend VM, in order (its ledger in the data directory). */
export function fakeLedger(host: Pick<ClusterProcess, 'dataDir'>): FakeLedgerEntry[] {
  const path = join(host.dataDir, FAKE_LEDGER);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as FakeLedgerEntry);
}

export const CLUSTER_TOKEN = 'test-cluster-token';

/** A host's credentials, as `hangar cluster issue host` and `hangar cluster host-role` give them. */
export interface HostCredentials {
  /** Its --cluster-dir: ca.crt, cert.pem, key.pem. */
  dir: string;
  /** Its --store: the database as the host's own role. */
  storeUrl: string;
}

export interface ClusterProcess {
  name: string;
  /** The API (replicas) or the agent API (hosts). */
  url: string;
  dataDir: string;
  child: ChildProcess;
  /** A host's edge proxy, as it said where it listens. */
  proxyUrl(): string | undefined;
  output(): string;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface HostSpec {
  id: string;
  region: string;
  extraArgs?: string[];
  /** Runs the host in this network namespace of its own (hosts-apart.ts), its agent API on `address`. */
  apart?: { netns: string; address: string };
}

export interface TestCluster {
  pg: TestPostgres;
  storeUrl: string;
  replicas: ClusterProcess[];
  hosts: Map<string, ClusterProcess>;
  /** A JSON call to replica `index` with the API token. */
  call(index: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  startReplica(env?: Record<string, string>, args?: string[]): Promise<ClusterProcess>;
  startHost(spec: HostSpec, dataDir?: string, env?: Record<string, string>): Promise<ClusterProcess>;
  /** The replicas' identity directory (ca.crt, cert.pem, key.pem). */
  replicaDir: string;
  /** Host `id`'s credentials, issued the first time they are asked for. */
  credentials(id: string): Promise<HostCredentials>;
  /** A request to host `hostId`'s agent API, over TLS, as the identity in `as` (default: a replica's). */
  agentFetch(hostId: string, path: string, init?: { method?: string; body?: unknown; as?: string }): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /**
   * Runs `hangar serve` with `args` on the cluster's database and expects it to exit
   * before it answers: its exit code and output.
   */
  refusedServe(args: string[], dataDir?: string, asHost?: string): Promise<{ code: number | null; output: string }>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ClusterOptions {
  hosts: HostSpec[];
  replicas: number;
  fakeTiming?: 'instant' | 'realistic';
  durable?: boolean;
  /** Lines added to the PostgreSQL server's configuration. */
  postgresSettings?: string[];
  /** Flags every replica and host gets. */
  commonArgs?: string[];
  /** Flags the replicas started at first get (a `--region`, say). */
  replicaArgs?: string[];
}

export async function startCluster(options: ClusterOptions): Promise<TestCluster> {
  const pg = await startTestPostgres({ durable: options.durable, settings: options.postgresSettings });
  const storeUrl = await pg.createDatabase();
  const dirs: string[] = [];
  // As an operator would: the schema made by the database's owner, an authority, the replicas' identity.
  await (await PostgresStore.open({ url: storeUrl, poolSize: 1 })).close();
  const pki = mkdtempSync(join(tmpdir(), 'hangar-cluster-pki-'));
  dirs.push(pki);
  await createAuthority(join(pki, 'ca'));
  const replicaDir = join(pki, 'replica');
  await issueIdentity(join(pki, 'ca'), 'replica', 'test-replicas', replicaDir);
  const issued = new Map<string, Promise<HostCredentials>>();
  const credentials = (id: string): Promise<HostCredentials> => {
    let creds = issued.get(id);
    if (!creds) {
      const dir = join(pki, `host-${id}`);
      creds = issueIdentity(join(pki, 'ca'), 'host', id, dir).then(async () => ({ dir, storeUrl: await createHostRole(storeUrl, id) }));
      issued.set(id, creds);
    }
    return creds;
  };
  // One secrets keyring for the whole cluster, as an operator gives every process.
  const secretsKey = randomBytes(32).toString('base64');
  const spawnServer = async (name: string, args: string[], dataDir?: string, env: Record<string, string> = {}, store = storeUrl, netns?: string): Promise<ClusterProcess> => {
    const dir = dataDir ?? mkdtempSync(join(tmpdir(), `hangar-cluster-${name}-`));
    if (!dataDir) dirs.push(dir);
    // nsenter enters the namespace and runs hangar in its place: the child is hangar itself.
    const [command, ...prefix] = netns ? ['nsenter', `--net=/run/netns/${netns}`, HANGAR] : [HANGAR];
    const child = spawn(command as string, [...prefix, 'serve', '--data-dir', dir, '--store', store, '--log-level', 'warn', ...(options.commonArgs ?? []), ...args], {
      env: { ...process.env, HANGAR_API_TOKEN: CLUSTER_TOKEN, HANGAR_SECRETS_KEY: secretsKey, ...env },
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
        const match = /^hangar (?:host agent )?(https?:\/\/[\d.:]+)/m.exec(output);
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
      // A process a test stopped (SIGSTOP, a partition) would never act on SIGTERM.
      child.kill('SIGCONT');
      child.kill(signal);
      await exited;
    };
    return {
      name, url, dataDir: dir, child, output: () => output, kill: () => end('SIGKILL'), stop: () => end('SIGTERM'),
      proxyUrl: () => /^proxy (http:\/\/[\d.:]+)/m.exec(output)?.[1],
    };
  };

  const cluster: TestCluster = {
    pg,
    storeUrl,
    replicas: [],
    hosts: new Map(),
    replicaDir,
    credentials,
    call: (index, method, path, body) => request({ url: (cluster.replicas[index] as ClusterProcess).url, token: CLUSTER_TOKEN }, method, path, body),
    agentFetch: (hostId, path, init = {}) => agentRequest((cluster.hosts.get(hostId) as ClusterProcess).url, hostId, path, init.as ?? replicaDir, init),
    async startReplica(env, args = []) {
      // Its hosts' driver: fake, unless args say otherwise (a replica pins a create's tag as its hosts would resolve it).
      const replica = await spawnServer(`api-${cluster.replicas.length}`, ['--role', 'api', '--driver', 'fake', '--api-listen', '127.0.0.1:0', '--cluster-dir', replicaDir, ...args], undefined, env);
      cluster.replicas.push(replica);
      return replica;
    },
    async startHost(spec, dataDir, env) {
      const creds = await credentials(spec.id);
      const host = await spawnServer(spec.id, [
        '--role', 'host', '--host-id', spec.id, '--region', spec.region, '--agent-listen', '127.0.0.1:0', '--cluster-dir', creds.dir,
        '--proxy-listen', `${spec.apart?.address ?? '127.0.0.1'}:0`, '--proxy-tls-listen', 'off',
        '--driver', 'fake', '--fake-timing', options.fakeTiming ?? 'realistic', ...(spec.extraArgs ?? []),
        ...(spec.apart ? ['--agent-listen', `${spec.apart.address}:0`] : []),
      ], dataDir, env, creds.storeUrl, spec.apart?.netns);
      cluster.hosts.set(spec.id, host);
      return host;
    },
    async refusedServe(args, dataDir, asHost) {
      const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'hangar-cluster-refused-'));
      if (!dataDir) dirs.push(dir);
      const creds = asHost === undefined ? undefined : await credentials(asHost);
      const child = spawn(HANGAR, ['serve', '--data-dir', dir, '--store', creds?.storeUrl ?? storeUrl, '--log-level', 'warn', '--api-listen', '127.0.0.1:0',
        '--proxy-listen', '127.0.0.1:0', '--proxy-tls-listen', 'off', '--agent-listen', '127.0.0.1:0', ...(creds ? ['--cluster-dir', creds.dir] : []), ...args], {
        env: { ...process.env, HANGAR_API_TOKEN: CLUSTER_TOKEN },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      running.add(child);
      let output = '';
      child.stdout?.on('data', (chunk) => { output += chunk; });
      child.stderr?.on('data', (chunk) => { output += chunk; });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => { running.delete(child); resolve(exitCode); }));
      clearTimeout(timer);
      return { code, output };
    },
    async stop() {
      await Promise.all([...cluster.replicas, ...cluster.hosts.values()].map((p) => p.stop()));
      await pg.stop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(options.hosts.map((spec) => cluster.startHost(spec)));
    for (let i = 0; i < options.replicas; i++) await cluster.startReplica(undefined, options.replicaArgs);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** Destroys every machine of these apps (those that exist) and waits until each is. */
export async function destroyMachinesOf(cluster: TestCluster, apps: readonly string[]): Promise<void> {
  for (const app of apps) {
    const listed = (await cluster.call(0, 'GET', `/v1/apps/${app}/machines`).catch(() => ({ body: [] }))).body;
    const machines: Array<{ id: string }> = Array.isArray(listed) ? listed : [];
    for (const m of machines) await cluster.call(0, 'DELETE', `/v1/apps/${app}/machines/${m.id}?force=true`).catch(() => undefined);
    for (const m of machines) await cluster.call(0, 'GET', `/v1/apps/${app}/machines/${m.id}/wait?state=destroyed&timeout=60`).catch(() => undefined);
  }
}

/** A request to an agent over TLS with the identity in `as`, checking the agent is host `hostId` as a replica does. */
async function agentRequest(url: string, hostId: string, path: string, as: string, init: { method?: string; body?: unknown }): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const identity = loadIdentity(as);
  const client = new Agent({
    connect: {
      ca: identity.ca, cert: identity.cert, key: identity.key,
      checkServerIdentity: (_name, peer) => (identityOf(peer.subjectaltname)?.name === hostId ? undefined : new Error(`not host ${hostId}`)),
    },
  });
  try {
    const response = await tlsFetch(`${url}${path}`, {
      method: init.method ?? 'GET',
      headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      dispatcher: client,
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: the text
    }
    return { status: response.status, body };
  } finally {
    await client.close();
  }
}
