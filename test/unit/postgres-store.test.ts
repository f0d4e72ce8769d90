/**
 * The Store contract on PostgreSQL (a private server for this file, a new database per
 * test), and what only PostgreSQL has: migrations raced by several hangars, its errors.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { ChangeFollower } from '../../src/cluster/change-follower.ts';
import { MachineFeed } from '../../src/control/machine-feed.ts';
import type { ClusterLink } from '../../src/store/link.ts';
import { openPool, storageError, transaction } from '../../src/store/postgres/connection.ts';
import { migrate, MIGRATIONS } from '../../src/store/postgres/migrations.ts';
import { createHostRole } from '../../src/store/postgres/host-roles.ts';
import { PostgresLink } from '../../src/store/postgres/cluster-link.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { StaleWriteError, StorageError } from '../../src/store/errors.ts';
import { postgresSkipReason, startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { storeContract } from '../helpers/store-contract.ts';
import { app, event, insert, machine, moveTo, volume } from '../helpers/store-fixtures.ts';

const skip = postgresSkipReason();

describe('PostgresStore', { skip }, () => {
  let server: TestPostgres;
  before(async () => { server = await startTestPostgres(); });
  after(() => server?.stop());
  const open = (url: string) => PostgresStore.open({ url, poolSize: 4 });

  storeContract(async () => {
    const url = await server.createDatabase();
    return {
      store: await open(url),
      reopen: () => open(url),
      async spoil(machineId, doc, recentEvents) {
        await server.sql(url, 'UPDATE machines SET doc = $1, recent_events = coalesce($2, recent_events) WHERE id = $3', [doc, recentEvents ?? null, machineId]);
      },
      async spoilDoc(table, where, doc) {
        const columns = Object.keys(where);
        await server.sql(url, `UPDATE ${table} SET doc = $1 WHERE ${columns.map((column, i) => `${column} = $${i + 2}`).join(' AND ')}`, [doc, ...Object.values(where)]);
      },
    };
  });

  describe('the commit order', () => {
    /** A store and a second connection, to hold a transaction open while the store commits. */
    const withTransactionInFlight = async (test: (store: PostgresStore, inFlight: pg.Client) => Promise<void>) => {
      const url = await server.createDatabase();
      const store = await open(url);
      const inFlight = new pg.Client({ connectionString: url });
      await inFlight.connect();
      try {
        await test(store, inFlight);
      } finally {
        await inFlight.end();
        await store.close();
      }
    };

    it('an organization listing holds back what a transaction in flight could land before, so a reader resuming misses nothing', async () => {
      await withTransactionInFlight(async (store, inFlight) => {
      await store.createApp(app('a', 'org'));
      await insert(store, machine({ appName: 'a', id: 'm-x' }));
      const y = await insert(store, machine({ appName: 'a', id: 'm-y' }));
      // m-x is written by a transaction that began first and commits last.
      await inFlight.query('BEGIN');
      await inFlight.query("UPDATE machines SET doc = doc WHERE id = 'm-x'");
      await store.commit({ machine: y, events: [] });
      const first = await store.listOrgMachines('org', { limit: 100 });
      assert.deepEqual(first.map((p) => p.machine.id), ['m-x'], 'm-y waits until nothing can land before it');
      await inFlight.query('COMMIT');
      const last = first.at(-1) as { machine: { id: string }; at: string };
      const next = await store.listOrgMachines('org', { limit: 100, after: { at: last.at, id: last.machine.id } });
      assert.deepEqual(next.map((p) => p.machine.id), ['m-x', 'm-y']);
      });
    });

    it('reads machines\' changes from a horizon exactly: each commit once, none that a transaction in flight could land before', async () => {
      await withTransactionInFlight(async (store, inFlight) => {
      await store.createApp(app('a', 'org'));
      await insert(store, machine({ appName: 'a', id: 'm-old' }));
      const start = await store.changes.horizon();
      const x = await insert(store, machine({ appName: 'a', id: 'm-x' }));
      const y = await insert(store, machine({ appName: 'a', id: 'm-y' }));
      const first = await store.changes.since(start);
      assert.deepEqual(first.machines.map((m) => m.id), ['m-x', 'm-y'], 'what came before the horizon is not read again');
      assert.deepEqual((await store.changes.since(first.horizon)).machines, [], 'nor what was read');

      await inFlight.query('BEGIN');
      await inFlight.query("UPDATE machines SET doc = doc WHERE id = 'm-x'");
      await store.commit({ machine: { ...y, state: 'started' }, events: [] });
      const held = await store.changes.since(first.horizon);
      assert.deepEqual(held.machines, [], 'm-y waits until nothing can land before it');
      await inFlight.query('COMMIT');
      const after = await store.changes.since(held.horizon);
      assert.deepEqual(after.machines.map((m) => [m.id, m.state]), [['m-x', x.state], ['m-y', 'started']]);
      });
    });

    it('a change follower hands on another process\'s commits, announced or not', async () => {
      const url = await server.createDatabase();
      const [ours, theirs] = [await open(url), await open(url)];
      const announced: Array<() => void> = [];
      const link = { onMachineChanged: (listener: () => void) => announced.push(listener), onMissedChanges: () => undefined } as unknown as ClusterLink;
      const feed = new MachineFeed();
      const heard: string[] = [];
      feed.subscribe((m) => heard.push(`${m.id}:${m.state}`));
      const follower = await ChangeFollower.start(ours.changes, link, feed, pino({ level: 'silent' }));
      try {
        await theirs.createApp(app('a', 'org'));
        const m = await insert(theirs, machine({ appName: 'a', id: 'm-1' }));
        for (const listener of announced) listener();
        for (let i = 0; i < 50 && heard.length === 0; i++) await sleep(20);
        assert.deepEqual(heard, ['m-1:stopped']);
        // Not announced (a hint lost): the next read, at the latest the backstop's, brings it.
        await theirs.commit({ machine: { ...m, state: 'started' }, events: [] });
        follower.read();
        for (let i = 0; i < 50 && heard.length === 1; i++) await sleep(20);
        assert.deepEqual(heard, ['m-1:stopped', 'm-1:started']);
      } finally {
        await follower.stop();
        await ours.close();
        await theirs.close();
      }
    });

    it('so does the organization\'s volume listing', async () => {
      await withTransactionInFlight(async (store, inFlight) => {
      await store.createApp(app('a', 'org'));
      for (const id of ['vol_x', 'vol_y']) await store.putVolume({ ...volume(id), appName: 'a' });
      await inFlight.query('BEGIN');
      await inFlight.query("UPDATE volumes SET doc = doc WHERE id = 'vol_x'");
      await store.putVolume({ ...volume('vol_y'), appName: 'a', sizeGb: 2 });
      const first = await store.listOrgVolumes('org', { limit: 100 });
      assert.deepEqual(first.map((p) => p.volume.id), ['vol_x'], 'vol_y waits until nothing can land before it');
      await inFlight.query('COMMIT');
      const last = first.at(-1) as { volume: { id: string }; at: string };
      const next = await store.listOrgVolumes('org', { limit: 100, after: { at: last.at, id: last.volume.id } });
      assert.deepEqual(next.map((p) => p.volume.id), ['vol_x', 'vol_y']);
      });
    });
  });

  describe('host numbers', () => {
    it('gives each host the lowest free number for good, or the one it asks for unless another host has it', async () => {
      const url = await server.createDatabase();
      const store = await open(url);
      try {
        const numbers = store.hostNumbers;
        assert.deepEqual(await numbers.claim('h1'), { number: 1, heldBy: 'h1' });
        assert.deepEqual(await numbers.claim('h2', 5), { number: 5, heldBy: 'h2' });
        assert.deepEqual(await numbers.claim('h3', 5), { number: 5, heldBy: 'h2' }, 'taken: its holder is named');
        assert.deepEqual(await numbers.claim('h3'), { number: 2, heldBy: 'h3' }, 'the refused ask wrote nothing');
        assert.deepEqual(await numbers.claim('h1', 9), { number: 1, heldBy: 'h1' }, 'a host keeps the number it has');
      } finally {
        await store.close();
      }
    });

    it('gives hosts claiming at once from several processes a number each', async () => {
      const url = await server.createDatabase();
      const stores = await Promise.all([open(url), open(url)]);
      try {
        const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => (stores[i % 2] as PostgresStore).hostNumbers.claim(`h${i}`)));
        assert.deepEqual(claims.map((claim) => claim.number).sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1));
      } finally {
        for (const store of stores) await store.close();
      }
    });
  });

  describe('the private network\'s directory', () => {
    const KEY1 = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';
    const KEY2 = '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=';

    it('lets each host publish its own end only, and read every host\'s', async () => {
      const url = await server.createDatabase();
      const owner = await open(url);
      const [h1, h2] = await Promise.all([createHostRole(url, 'h1').then(open), createHostRole(url, 'h2').then(open)]);
      try {
        await h1.hostNumbers.claim('h1');
        await h2.hostNumbers.claim('h2', 7);
        await h1.mesh.publish('h1', { kind: 'wireguard', endpoint: '10.0.0.1:51820', publicKey: KEY1 });
        await assert.rejects(h1.mesh.publish('h2', { kind: 'wireguard', endpoint: '10.6.6.6:51820', publicKey: KEY1 }), /row-level security/,
          'a host cannot publish another\'s end (it would take its traffic)');
        await h2.mesh.publish('h2', { kind: 'wireguard', endpoint: '10.0.0.2:51820', publicKey: KEY2 });
        await h1.mesh.publish('h1', { kind: 'wireguard', endpoint: '10.0.0.9:51820', publicKey: KEY1 });

        await owner.createApp(app('web'));
        await insert(owner, machine({ id: 'm1', appName: 'web', hostId: 'h2', state: 'started' }));

        assert.deepEqual(await h1.mesh.hosts(), [
          { hostId: 'h1', hostNumber: 1, kind: 'wireguard', endpoint: '10.0.0.9:51820', publicKey: KEY1 },
          { hostId: 'h2', hostNumber: 7, kind: 'wireguard', endpoint: '10.0.0.2:51820', publicKey: KEY2 },
        ]);
        assert.equal(await h1.getMachineById('m1'), null, 'and still cannot');
      } finally {
        for (const store of [owner, h1, h2]) await store.close();
      }
    });
  });

  describe('app secrets and host roles', () => {
    it('lets a host read the sealed secrets of the apps it runs a machine of, and write none', async () => {
      const url = await server.createDatabase();
      const owner = await open(url);
      const h1 = await open(await createHostRole(url, 'h1'));
      try {
        for (const name of ['mine', 'theirs']) {
          await owner.createApp(app(name));
          await owner.changeSecrets(name, () => ({ set: [{ name: 'S', sealed: `sealed-${name}`, digest: 'd', createdAt: 1, updatedAt: 1 }], unset: [] }));
        }
        await insert(owner, machine({ id: 'm1', appName: 'mine', hostId: 'h1', state: 'started' }));
        await insert(owner, machine({ id: 'm2', appName: 'theirs', hostId: 'h2', state: 'started' }));
        assert.deepEqual((await h1.readSecretRecords('mine')).map((secret) => secret.sealed), ['sealed-mine']);
        assert.deepEqual(await h1.readSecretRecords('theirs'), [], 'another host\'s app: nothing to see');
        await assert.rejects(server.sql(await createHostRole(url, 'h1'), "UPDATE app_secrets SET sealed = 'x'"), /permission denied/);
        await assert.rejects(server.sql(await createHostRole(url, 'h1'), "INSERT INTO app_secrets VALUES ('mine', 'N', 'x', 'd', 1, 1)"), /permission denied/);
      } finally {
        for (const store of [owner, h1]) await store.close();
      }
    });
  });

  describe('the private DNS\'s directory', () => {
    it('gives a host every host\'s machines as the DNS and proxy need them, then their changes, and leaves a torn row out', async () => {
      const url = await server.createDatabase();
      const owner = await open(url);
      const h1 = await open(await createHostRole(url, 'h1'));
      try {
        const web = await owner.createApp(app('web'));
        const theirs = await owner.createApp(app('theirs', 'other-org'));
        const [n1, n2] = [(await owner.hostNumbers.claim('h1')).number, (await owner.hostNumbers.claim('h2')).number];
        const at = (net: number, host: number, n: number) => `fdaa:0:${net.toString(16)}:${host.toString(16)}:0:${n}:0:2`;
        const started = await insert(owner, machine({ id: 'aaaaaaaaaaaa01', appName: 'web', hostId: 'h2', state: 'started', privateIp: at(web.netNumber, n2, 1), region: 'syd' },
          { dns: { skip_registration: false }, metadata: { fly_process_group: 'app' }, env: { PRIMARY_REGION: 'syd', DATABASE_PASSWORD: 'hunter2' } }));
        await insert(owner, machine({ id: 'aaaaaaaaaaaa02', appName: 'web', hostId: 'h1', state: 'stopped', privateIp: at(web.netNumber, n1, 2), region: 'fra' }, { dns: { skip_registration: true } }));
        await insert(owner, machine({ id: 'aaaaaaaaaaaa03', appName: 'theirs', hostId: 'h2', state: 'destroyed', privateIp: at(theirs.netNumber, n2, 3) }));
        // A host writing its machine an address of another app's, or of another host's: left out.
        await insert(owner, machine({ id: 'aaaaaaaaaaaa04', appName: 'web', hostId: 'h2', state: 'started', privateIp: at(theirs.netNumber, n2, 4) }));
        await insert(owner, machine({ id: 'aaaaaaaaaaaa05', appName: 'web', hostId: 'h2', state: 'started', privateIp: at(web.netNumber, n1, 5) }));
        // A host writing what the directory gives of its machine, past its document: what is read is made from the document still.
        await server.sql(await createHostRole(url, 'h2'), 'UPDATE machines SET directory = $1 WHERE id = $2',
          [JSON.stringify({ privateIp: at(theirs.netNumber, n2, 1), routing: { env: { PRIMARY_REGION: 'forged' } } }), 'aaaaaaaaaaaa01']);
        const first = await h1.directory.since();
        const routed = first.items.find((m) => m.id === 'aaaaaaaaaaaa01');
        assert.deepEqual([routed?.routing?.cordoned, routed?.routing?.version, routed?.routing?.createdAt], [false, started.version, started.createdAt]);
        assert.deepEqual([routed?.routing?.config?.env, routed?.routing?.config?.metadata], [{ PRIMARY_REGION: 'syd' }, { fly_process_group: 'app' }],
          'what routing needs of the config, and no other environment');
        assert.deepEqual(first.items.map(({ routing: _, ...rest }) => rest).sort((a, b) => a.id.localeCompare(b.id)), [
          { id: 'aaaaaaaaaaaa01', appName: 'web', region: 'syd', hostId: 'h2', privateIp: at(web.netNumber, n2, 1), state: 'started', skipRegistration: false, processGroup: 'app' },
          { id: 'aaaaaaaaaaaa02', appName: 'web', region: 'fra', hostId: 'h1', privateIp: at(web.netNumber, n1, 2), state: 'stopped', skipRegistration: true },
        ], 'every machine not destroyed, of every host, at an address of its own app and host');
        assert.deepEqual(await h1.directory.apps(), [{ name: 'theirs', orgSlug: 'other-org' }, { name: 'web', orgSlug: 'personal' }]);

        // Moved to h1 with its address kept: only the replica's record of it makes the directory give it.
        await server.sql(url, 'UPDATE machines SET host_id = $1 WHERE id = $2', ['h1', 'aaaaaaaaaaaa01']);
        await server.sql(url, 'INSERT INTO machine_moves (machine_id, private_ip, host_id) VALUES ($1, $2, $3)', ['aaaaaaaaaaaa01', at(web.netNumber, n2, 1), 'h1']);
        // A host giving its own machine another host's address, without such a record: left out.
        await server.sql(url, 'UPDATE machines SET doc = $1 WHERE id = $2', [JSON.stringify({ ...JSON.parse((await server.sql(url, "SELECT doc FROM machines WHERE id = 'aaaaaaaaaaaa02'")).rows[0].doc), privateIp: at(web.netNumber, n2, 9) }), 'aaaaaaaaaaaa02']);
        await assert.rejects(server.sql(await createHostRole(url, 'h1'), 'INSERT INTO machine_moves (machine_id, private_ip, host_id) VALUES ($1, $2, $3)',
          ['aaaaaaaaaaaa02', at(web.netNumber, n2, 9), 'h1']), 'a host records no kept address');
        const afterMoves = (await h1.directory.since()).items;
        assert.deepEqual(afterMoves.filter((m) => m.id === 'aaaaaaaaaaaa01').map((m) => [m.hostId, m.privateIp, m.movedAddress]), [['h1', at(web.netNumber, n2, 1), true]]);
        assert.equal(afterMoves.some((m) => m.id === 'aaaaaaaaaaaa02'), false, 'an address of another host, not kept by a move, stays out');
        const from2 = await h1.directory.horizon();

        await moveTo(owner, started, 'stopped');
        await server.sql(url, "UPDATE machines SET doc = '{\"torn' WHERE id = 'aaaaaaaaaaaa02'");
        const next = await h1.directory.since(from2);
        assert.deepEqual(next.items.map((m) => [m.id, m.state]), [['aaaaaaaaaaaa01', 'stopped']], 'the torn row is left out, and the rest still read');
        assert.deepEqual((await h1.directory.since(next.horizon)).items, []);
        // A change of config comes with the change that made it, though the same machine was read before.
        await server.sql(url, `UPDATE machines SET doc = jsonb_set(doc::jsonb, '{config,env,PRIMARY_REGION}', '"ams"')::text WHERE id = 'aaaaaaaaaaaa01'`);
        const changed = await h1.directory.since(next.horizon);
        assert.deepEqual(changed.items.map((m) => m.routing?.config?.env), [{ PRIMARY_REGION: 'ams' }]);
      } finally {
        for (const store of [owner, h1]) await store.close();
      }
    });
  });

  describe('machine requests (a host\'s proxy asking another host)', () => {
    it('queues a request for the machine\'s own host, once per kind, which only that host takes, and hints it', async () => {
      const url = await server.createDatabase();
      const owner = await open(url);
      const [h1, h2] = [await open(await createHostRole(url, 'h1')), await open(await createHostRole(url, 'h2'))];
      const link = await PostgresLink.open(url);
      try {
        await owner.createApp(app('web'));
        const asked = await insert(owner, machine({ id: 'aaaaaaaaaaaa01', appName: 'web', hostId: 'h2', state: 'stopped' }));
        await insert(owner, machine({ id: 'aaaaaaaaaaaa02', appName: 'web', hostId: 'h2', state: 'destroyed' }));
        const hints: string[] = [];
        link.onRequests('h2', () => hints.push('requests'));
        link.onWork('h2', () => hints.push('work'));

        assert.equal(await h1.requests.ask('aaaaaaaaaaaa01', 'start'), 'h2');
        assert.equal(await h1.requests.ask('aaaaaaaaaaaa01', 'start'), 'h2');
        assert.equal(await h1.requests.ask('aaaaaaaaaaaa02', 'start'), undefined, 'a destroyed machine');
        assert.equal(await h1.requests.ask('ffffffffffffff', 'stop'), undefined, 'no such machine');
        await assert.rejects(h1.requests.ask('aaaaaaaaaaaa01', 'destroy' as 'stop'), /unknown action/);
        assert.deepEqual(await h1.requests.take('h2'), [], 'another host\'s requests are not this host\'s to take');
        assert.deepEqual(await h2.requests.take('h2'), [{ machineId: 'aaaaaaaaaaaa01', appName: 'web', action: 'start' }], 'asked twice, taken once');
        assert.deepEqual(await h2.requests.take('h2'), []);
        for (let i = 0; i < 50 && hints.length < 2; i++) await sleep(20);
        assert.deepEqual(hints, ['requests', 'requests'], 'the host\'s request reader is hinted, not its work loop');
        // Work hints the work loop only: a host's request reader does not read at each create.
        await owner.commit({ machine: { ...asked, state: 'starting' }, events: [], effects: [{ kind: 'prepare' }] });
        for (let i = 0; i < 50 && hints.length < 3; i++) await sleep(20);
        await sleep(100);
        assert.deepEqual(hints, ['requests', 'requests', 'work']);
        // A host may be named 'requests': its work hint (payload: its id) is still work's.
        const named: string[] = [];
        link.onWork('requests', () => named.push('work'));
        link.onRequests('requests', () => named.push('requests'));
        await sleep(100);
        await server.sql(url, "SELECT pg_notify('hangar_work_requests', 'requests')");
        for (let i = 0; i < 50 && named.length === 0; i++) await sleep(20);
        assert.deepEqual(named, ['work']);
        await assert.rejects(server.sql(await createHostRole(url, 'h3'), "INSERT INTO machine_requests (host_id, machine_id, action, app_name) VALUES ('h2', 'x', 'stop', 'web')"),
          'a host writes requests only through the function');
      } finally {
        await link.close();
        for (const store of [owner, h1, h2]) await store.close();
      }
    });
  });

  describe('proxy activity (each host\'s traffic to each machine)', () => {
    it('lets each host write its own and read the others\', summed per machine, counting in-flight requests of fresh rows only', async () => {
      const url = await server.createDatabase();
      const owner = await open(url);
      const [h1, h2, h3] = [await open(await createHostRole(url, 'h1')), await open(await createHostRole(url, 'h2')), await open(await createHostRole(url, 'h3'))];
      try {
        await h1.activity.publish('h1', [{ machineId: 'm1', inFlight: 2, lastActive: 100 }, { machineId: 'm2', inFlight: 0, lastActive: 50 }], []);
        await h2.activity.publish('h2', [{ machineId: 'm1', inFlight: 1, lastActive: 300 }], []);
        await assert.rejects(h2.activity.publish('h1', [{ machineId: 'm9', inFlight: 5, lastActive: 1 }], []), /row-level security/, 'not another host\'s rows');
        const seen = (list: Array<{ machineId: string }>) => [...list].sort((a, b) => a.machineId.localeCompare(b.machineId));
        assert.deepEqual(seen(await h3.activity.others('h3', 5_000)), [{ machineId: 'm1', inFlight: 3, lastActive: 300 }, { machineId: 'm2', inFlight: 0, lastActive: 50 }]);
        assert.deepEqual(seen(await h1.activity.others('h1', 5_000)), [{ machineId: 'm1', inFlight: 1, lastActive: 300 }], 'its own left out');
        await server.sql(url, "UPDATE proxy_activity SET updated_at = now() - interval '1 minute' WHERE host_id = 'h2'");
        assert.deepEqual(seen(await h1.activity.others('h1', 5_000)), [{ machineId: 'm1', inFlight: 0, lastActive: 300 }], 'a silent host\'s requests stop counting; its last activity stays');
        await h1.activity.publish('h1', [], ['m2']);
        assert.deepEqual((await h3.activity.others('h3', 5_000)).map((a) => a.machineId).sort(), ['m1']);
      } finally {
        for (const store of [owner, h1, h2, h3]) await store.close();
      }
    });
  });

  describe('opening', () => {
    it('creates its tables once when several hangars open one new database at once', async () => {
      const url = await server.createDatabase();
      const stores = await Promise.all(Array.from({ length: 6 }, () => open(url)));
      try {
        const applied = await server.sql(url, 'SELECT version FROM hangar_migrations ORDER BY version');
        assert.deepEqual(applied.rows.map((row) => row.version), MIGRATIONS.map((_, i) => i + 1));
        await stores[0]?.createApp(app('a'));
        assert.equal((await stores[5]?.getApp('a'))?.name, 'a');
      } finally {
        for (const store of stores) await store.close();
      }
    });

    it('counts what each host reserves from the machines already there when it starts keeping the count', async () => {
      const url = await server.createDatabase();
      const pool = openPool({ url, size: 1 });
      await migrate(pool, MIGRATIONS.slice(0, 3));
      await pool.end();
      await server.sql(url, `INSERT INTO hosts (id, region, any_region, epoch, doc) VALUES ('h1', 'fra', false, 1, $1)`, [JSON.stringify({
        id: 'h1', region: 'fra', address: '', hostNumber: 1, cpus: null, memoryMb: null, diskBytes: 0, anyRegion: false, cordoned: false, epoch: 1, heartbeatAt: 0, registeredAt: 0,
      })]);
      for (const [id, state, memory] of [['m1', 'started', 256], ['m2', 'stopped', 512], ['m3', 'destroyed', 1024]] as const) {
        await server.sql(url, `INSERT INTO machines (id, app_name, name, region, state, rev, updated_at, doc, host_id, cpus, memory_mb)
          VALUES ($1, 'app', $1, 'fra', $2, 1, 0, '{}', 'h1', 1, $3)`, [id, state, memory]);
      }
      const store = await open(url);
      try {
        const [usage] = await store.listHostUsage();
        assert.deepEqual([usage?.machines, usage?.reservedCpus, usage?.reservedMemoryMb], [2, 2, 768]);
      } finally {
        await store.close();
      }
    });

    it('keeps each volume\'s host and last change in columns from the documents already there, leaving a row that is not JSON empty', async () => {
      const url = await server.createDatabase();
      const pool = openPool({ url, size: 1 });
      await migrate(pool, MIGRATIONS.slice(0, 5));
      await pool.end();
      await server.sql(url, `INSERT INTO apps (name, id, org_slug, network, net_number, created_at) VALUES ('app', 'id-app', 'personal', 'default', 1, 0)`);
      const put = (id: string, doc: string) => server.sql(url, `INSERT INTO volumes (id, app_name, region, state, doc) VALUES ($1, 'app', 'ams', 'created', $2)`, [id, doc]);
      await put('vol_a', JSON.stringify({ ...volume('vol_a'), hostId: 'h1', updatedAt: 3000 }));
      await put('vol_b', JSON.stringify(volume('vol_b')));
      await put('vol_c', '{"id": "torn');
      const store = await open(url);
      try {
        const columns = await server.sql(url, 'SELECT id, host_id, changed_at FROM volumes ORDER BY id');
        assert.deepEqual(columns.rows.map((row) => [row.id, row.host_id, row.changed_at]), [['vol_a', 'h1', 3000], ['vol_b', null, 1000], ['vol_c', null, null]]);
        assert.deepEqual((await store.listOrgVolumes('personal', { limit: 10 })).map(({ volume: v }) => v.id), ['vol_a', 'vol_b'], 'the rows there keep one place, in the order of their ids');
        assert.deepEqual((await store.listVolumesOnHost('h1')).map((v) => v.id), ['vol_a']);
      } finally {
        await store.close();
      }
    });

    it('keeps the numbers hosts registered with, the first registered\'s where two had one, and gives the rest theirs at their next start', async () => {
      const url = await server.createDatabase();
      const pool = openPool({ url, size: 1 });
      await migrate(pool, MIGRATIONS.slice(0, MIGRATIONS.findIndex((sql) => sql.includes('CREATE TABLE host_numbers'))));
      await pool.end();
      const hostRow = (id: string, at: string, doc: string) => server.sql(url, `INSERT INTO hosts (id, region, any_region, epoch, doc, registered_at)
        VALUES ($1, 'fra', false, 1, $2, $3)`, [id, doc, at]);
      await hostRow('h-old', '2026-01-01T00:00:00Z', JSON.stringify({ id: 'h-old', hostNumber: 0xa7b }));
      await hostRow('h-new', '2026-02-01T00:00:00Z', JSON.stringify({ id: 'h-new', hostNumber: 0xa7b }));
      await hostRow('h-torn', '2026-03-01T00:00:00Z', '{"id": "h-torn", "hostNumber": "x');
      await hostRow('h-two', '2026-03-02T00:00:00Z', JSON.stringify({ id: 'h-two', hostNumber: 2 }));
      const store = await open(url);
      try {
        const kept = await server.sql(url, 'SELECT host_id, number FROM host_numbers ORDER BY number');
        assert.deepEqual(kept.rows.map((row) => [row.host_id, row.number]), [['h-two', 2], ['h-old', 0xa7b]]);
        assert.deepEqual(await store.hostNumbers.claim('h-new'), { number: 1, heldBy: 'h-new' });
        assert.deepEqual(await store.hostNumbers.claim('h-torn'), { number: 3, heldBy: 'h-torn' });
      } finally {
        await store.close();
      }
    });

    it('refuses a database that a newer hangar has migrated further', async () => {
      const url = await server.createDatabase();
      await (await open(url)).close();
      await server.sql(url, 'INSERT INTO hangar_migrations (version) VALUES ($1)', [MIGRATIONS.length + 1]);
      const known = MIGRATIONS.length;
      await assert.rejects(open(url), new RegExp(`schema is at version ${known + 1}, newer than this hangar knows \\(${known}\\)`));
    });

    it('fails, without hanging, when the server cannot be reached', async () => {
      await assert.rejects(open(`postgresql://hangar@localhost/none?host=${encodeURIComponent(`${server.dir}/nowhere`)}`), /ENOENT|connect/);
    });
  });

  describe('errors', () => {
    it('a write PostgreSQL cannot make (disk full) is a StorageError with its message, and writes nothing', async () => {
      const url = await server.createDatabase();
      const store = await open(url);
      try {
        await store.createApp(app('app'));
        const m = await insert(store, machine());
        await server.sql(url, `CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN RAISE EXCEPTION 'could not extend file "base/1/2": No space left on device' USING ERRCODE = 'disk_full'; END $$`);
        await server.sql(url, 'CREATE TRIGGER full_disk BEFORE UPDATE ON machines FOR EACH ROW EXECUTE FUNCTION full_disk()');
        const full = (error: unknown) => error instanceof StorageError && /No space left on device/.test(error.message);
        await assert.rejects(store.commit({ machine: { ...m, state: 'started' }, events: [] }), full);
        await assert.rejects(store.commit({ machine: { ...m, state: 'started' }, events: [event('m-1', 1)] }), full);
        await server.sql(url, 'DROP TRIGGER full_disk ON machines');
        assert.deepEqual(await store.listEvents('m-1', 10), []);
        assert.equal((await store.commit({ machine: { ...m, state: 'started' }, events: [event('m-1', 2)] })).rev, 2, 'nothing was written, and the store works on');
        await assert.rejects(store.commit({ machine: m, events: [] }), StaleWriteError);
      } finally {
        await store.close();
      }
    });

    it('maps insufficient-resources (53) and system (58) errors to StorageError, and nothing else', () => {
      for (const code of ['53100', '53200', '58030', '58P01']) {
        const mapped = storageError(Object.assign(new Error(`PostgreSQL says ${code}`), { code }));
        assert.ok(mapped instanceof StorageError, code);
        assert.match(mapped.message, new RegExp(`PostgreSQL says ${code}`));
      }
      for (const code of ['23505', '40001', '57014', 'ECONNREFUSED', undefined]) assert.equal(storageError(Object.assign(new Error('x'), { code })), undefined, String(code));
    });

    it('a ROLLBACK that fails too does not hide the first error, and its connection is thrown away', async () => {
      const released: unknown[] = [];
      const client = Object.assign(new EventEmitter(), {
        query: async (text: string) => {
          if (text === 'ROLLBACK') throw new Error('connection terminated');
          return { rows: [], rowCount: 0 };
        },
        release: (error?: unknown) => { released.push(error); },
      });
      const pool = { connect: async () => client } as unknown as Parameters<typeof transaction>[0];
      await assert.rejects(transaction(pool, async () => { throw new Error('the first error'); }), /the first error/);
      assert.match(String(released[0]), /connection terminated/);
      await transaction(pool, async () => 1);
      assert.equal(released[1], undefined, 'a connection that committed goes back to the pool');
    });

    it('a connection that breaks between a transaction\'s statements fails the transaction, not the process', async () => {
      const released: unknown[] = [];
      let broken = false;
      const client = Object.assign(new EventEmitter(), {
        query: async () => {
          if (broken) throw new Error('Client was closed and is not queryable');
          return { rows: [], rowCount: 0 };
        },
        release: (error?: unknown) => { released.push(error); },
      });
      const pool = { connect: async () => client } as unknown as Parameters<typeof transaction>[0];
      // The socket fails while the transaction's own code runs, outside any statement (as node-postgres reports it).
      const breaking = transaction(pool, () => new Promise<void>((resolve) => setImmediate(() => {
        broken = true;
        client.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        resolve();
      })));
      await assert.rejects(breaking, /not queryable/);
      assert.match(String(released[0]), /EPIPE/, 'the broken connection is thrown away');
      assert.equal(client.listenerCount('error'), 0, 'no listener is left behind');
    });
  });
});
