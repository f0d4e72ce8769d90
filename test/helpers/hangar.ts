/** An in-process hangar on the fake driver and a temporary SQLite file (or a store given), driven with `inject()`. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { HostResolver } from '../../src/control/guest-images.ts';
import type { ControlSettings } from '../../src/control/ports.ts';
import type { Clock, SecretSealer } from '../../src/domain/ports.ts';
import { SecretKeys } from '../../src/system/secret-keys.ts';
import { assemble, type Hangar, type ProxySettings } from '../../src/assemble/index.ts';
import type { EdgeProxy } from '../../src/proxy/edge-proxy.ts';
import type { Store } from '../../src/store/store.ts';
import { type FakeDelays, FakeDriver } from '../../src/vmm/fake/fake-driver.ts';
import type { LocalVolumes } from '../../src/volumes/local-volumes.ts';

export const TOKEN = 'test-token-123';

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Record<string, unknown>;
}

export interface TestHangar {
  hangar: Hangar;
  /** The edge proxy of the `all` role this hangar is. */
  proxy: EdgeProxy;
  driver: FakeDriver;
  dir: string;
  call(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  /** Creates an app and returns its name. */
  app(name?: string): Promise<string>;
  /** Creates a machine (config defaults to a small image) and returns its JSON. */
  machine(app: string, body?: Record<string, unknown>): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  waitFor(app: string, id: string, state: string): Promise<Reply>;
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface TestOptions {
  delays?: Partial<FakeDelays>;
  settings?: Partial<ControlSettings>;
  dir?: string;
  keepDir?: boolean;
  proxy?: ProxySettings;
  clock?: Clock;
  volumes?: LocalVolumes;
  resolveHost?: HostResolver;
  capacity?: { cpus?: number; memoryMb?: number };
  /** Used instead of the SQLite file in the directory, and closed with the hangar (e.g. a PostgresStore). */
  store?: Store;
  /** The instance holding the host (default: one per database file). */
  instanceId?: string;
  /** Where the hangar logs (default: nowhere, or stdout at the level HANGAR_TEST_LOG names). */
  logger?: Logger;
  /** Where its private DNS listens (default: it runs none). */
  privateDns?: { host: string; port: number };
  /** The keys secrets are sealed with (default: a new key; null: none). */
  secrets?: SecretSealer | null;
}

export async function testHangar(options: TestOptions = {}): Promise<TestHangar> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hangar-test-'));
  const driver = new FakeDriver(options.delays);
  const hangar = await assemble({
    databasePath: join(dir, 'hangar.db'),
    store: options.store,
    driver,
    token: TOKEN,
    logger: options.logger ?? pino({ level: process.env.HANGAR_TEST_LOG ?? 'silent' }),
    settings: options.settings,
    capacity: options.capacity,
    proxy: options.proxy,
    clock: options.clock,
    volumes: options.volumes,
    resolveHost: options.resolveHost ?? (async (host) => { throw new Error(`tests resolve no names (${host})`); }),
    instanceId: options.instanceId,
    privateDns: options.privateDns,
    secrets: options.secrets === null ? undefined : options.secrets ?? SecretKeys.parse(randomBytes(32).toString('base64'), 'test'),
  });
  let apps = 0;
  const call: TestHangar['call'] = async (method, url, body, headers = {}) => {
    const response = await hangar.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = response.body;
    return { status: response.statusCode, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  };
  if (!hangar.proxy) throw new Error('a hangar of role all has an edge proxy');
  const t: TestHangar = {
    hangar,
    proxy: hangar.proxy,
    driver,
    dir,
    call,
    async app(name) {
      const appName = name ?? `app-${++apps}`;
      const reply = await call('POST', '/v1/apps', { name: appName, org_slug: 'personal' });
      if (reply.status !== 201) throw new Error(`app create failed: ${JSON.stringify(reply.body)}`);
      return appName;
    },
    async machine(app, body = {}) {
      const reply = await call('POST', `/v1/apps/${app}/machines`, { config: { image: 'registry.test/hello:1' }, ...body });
      if (reply.status !== 200) throw new Error(`machine create failed: ${reply.status} ${JSON.stringify(reply.body)}`);
      return reply.body;
    },
    async waitFor(app, id, state) {
      return call('GET', `/v1/apps/${app}/machines/${id}/wait?state=${state}&timeout=10`);
    },
    idle: () => hangar.idle(),
    async close() {
      await hangar.close();
      if (!options.keepDir && !options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}
