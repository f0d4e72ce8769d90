/**
 * A database holding volume, snapshot, version and event rows that are not the
 * records they should be (a hand edit, a torn write, an older hangar): the server
 * starts, every listing answers with the records it can read, a lookup of a
 * spoiled one answers 404, and the machines and volumes around them still work.
 * The same on SQLite (rows spoiled in the file) and PostgreSQL (through SQL).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino, { type Logger } from 'pino';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { postgresSkipReason, startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { flyGoCreate } from '../helpers/volumes.ts';

const image = 'registry.test/hello:1';
const GARBLED = '{"id": "torn';

interface Database {
  /** A hangar on the database, in directory `dir` (for volume files), as the same instance each time. */
  start(dir: string, logger?: Logger): Promise<TestHangar>;
  /** Runs SQL with `?` placeholders on the database of the hangar in `dir`, closed. */
  run(dir: string, sql: string, ...values: string[]): Promise<void>;
}

/** Makes records of every kind, spoils some, restarts the hangar and uses what is left. */
async function spoiledAndRestarted(db: Database): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-unreadable-'));
  let t = await db.start(dir);
  try {
    await t.app('torn');
    const url = (path = '') => `/v1/apps/torn${path}`;
    const [good, garbled, hollow] = await Promise.all(['good', 'garbled', 'hollow'].map(async (name) => {
      const reply = await t.call('POST', url('/volumes'), flyGoCreate(name, 1));
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      return reply.body.id as string;
    })) as [string, string, string];
    const [kept, torn] = [(await t.call('POST', url(`/volumes/${good}/snapshots`))).body.id, (await t.call('POST', url(`/volumes/${good}/snapshots`))).body.id];
    const m = await t.machine('torn', { config: { image } });
    await t.waitFor('torn', m.id, 'started');
    const updated = await t.call('POST', url(`/machines/${m.id}`), { config: { image, env: { V: '2' } } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    await t.waitFor('torn', m.id, 'started');
    assert.equal((await t.call('POST', url(`/machines/${m.id}/stop`))).status, 200);
    await t.waitFor('torn', m.id, 'stopped');
    const newest = (await t.call('GET', url(`/machines/${m.id}/events?limit=1`))).body[0].id as string;
    const mounting = await t.machine('torn', { skip_launch: true, config: { image, mounts: [{ volume: garbled, path: '/data' }] } });
    await t.close();

    await db.run(dir, 'UPDATE volumes SET doc = ? WHERE id = ?', GARBLED, garbled);
    await db.run(dir, 'UPDATE volumes SET doc = ? WHERE id = ?', JSON.stringify({ id: hollow, appName: 'torn', state: 'created', createdAt: 1 }), hollow);
    await db.run(dir, 'UPDATE volume_snapshots SET doc = ? WHERE id = ?', GARBLED, torn);
    await db.run(dir, 'UPDATE machine_versions SET doc = ? WHERE machine_id = ? AND version = ?', GARBLED, m.id, m.instance_id);
    await db.run(dir, 'UPDATE machine_events SET doc = ? WHERE id = ?', GARBLED, newest);

    const logged: Array<{ msg: string; kind?: string; id?: string }> = [];
    t = await db.start(dir, pino({ level: 'error' }, { write: (line: string) => { logged.push(JSON.parse(line)); } }));
    const volumes = await t.call('GET', url('/volumes'));
    assert.equal(volumes.status, 200, JSON.stringify(volumes.body));
    assert.deepEqual(volumes.body.map((v: { id: string }) => v.id), [good]);
    for (const id of [garbled, hollow]) assert.equal((await t.call('GET', url(`/volumes/${id}`))).status, 404);
    const org = await t.call('GET', '/v1/orgs/personal/volumes');
    assert.equal(org.status, 200, JSON.stringify(org.body));
    assert.deepEqual(org.body.volumes.map((v: { id: string }) => v.id), [good]);
    const snapshots = await t.call('GET', url(`/volumes/${good}/snapshots`));
    assert.equal(snapshots.status, 200, JSON.stringify(snapshots.body));
    assert.deepEqual(snapshots.body.map((s: { id: string }) => s.id), [kept]);
    assert.equal((await t.call('POST', url('/volumes'), { ...flyGoCreate('restored'), snapshot_id: torn })).status, 404);
    assert.equal((await t.call('GET', '/v1/platform/regions')).status, 200);

    const versions = await t.call('GET', url(`/machines/${m.id}/versions`));
    assert.equal(versions.status, 200, JSON.stringify(versions.body));
    assert.deepEqual(versions.body.map((v: { version: string }) => v.version), [updated.body.instance_id]);
    assert.equal((await t.call('GET', url(`/machines/${m.id}?version=${m.instance_id}`))).status, 404);
    const events = await t.call('GET', url(`/machines/${m.id}/events`));
    assert.equal(events.status, 200, JSON.stringify(events.body));
    assert.ok(events.body.length > 0);
    assert.equal((await t.call('GET', url(`/machines/${m.id}/wait?state=stopped&timeout=1`))).status, 200);
    assert.equal((await t.call('GET', url(`/machines/${m.id}`))).status, 200);
    // Every spoiled row is named in the log once the hangar has looked (in the background, after it starts).
    const reported = () => logged.filter((line) => line.kind !== undefined);
    for (let waited = 0; reported().length < 5 && waited < 5000; waited += 10) await sleep(10);
    assert.deepEqual(reported().map((line) => `${line.kind} ${line.id}`).sort(), [
      `machine_event ${newest}`, `machine_version ${m.id}/${m.instance_id}`, `volume ${garbled}`, `volume ${hollow}`, `volume_snapshot ${torn}`,
    ].sort());
    assert.match(reported()[0]?.msg ?? '', /holds no usable record .*every read skips it/);

    // A machine holding a spoiled volume is destroyed as any other; new volumes are made beside them.
    assert.equal((await t.call('DELETE', url(`/machines/${mounting.id}?force=true`))).status, 200);
    assert.equal((await t.waitFor('torn', mounting.id, 'destroyed')).status, 200);
    assert.equal((await t.call('POST', url('/volumes'), flyGoCreate('after', 1))).status, 200);
    await t.close();

    // Started once more, it deletes the app, spoiled rows and all.
    t = await db.start(dir);
    assert.equal((await t.call('DELETE', url())).status, 202);
    assert.equal((await t.call('GET', url())).status, 404);
  } finally {
    await t.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a database holding volume, snapshot, version and event rows that are not records', () => {
  it('on SQLite: starts, lists and looks up what it can read, and works on', async () => {
    await spoiledAndRestarted({
      start: (dir, logger) => testHangar({ dir, logger }),
      async run(dir, sql, ...values) {
        const file = new DatabaseSync(join(dir, 'hangar.db'));
        try {
          file.prepare(sql).run(...values);
        } finally {
          file.close();
        }
      },
    });
  });

  describe('on PostgreSQL', { skip: postgresSkipReason() }, () => {
    let server: TestPostgres;
    before(async () => { server = await startTestPostgres(); });
    after(() => server?.stop());

    it('starts, lists and looks up what it can read, and works on', async () => {
      const url = await server.createDatabase();
      await spoiledAndRestarted({
        // One instance restarted (as a data directory keeps its instance id), not a second hangar on the database.
        start: async (dir, logger) => testHangar({ dir, logger, store: await PostgresStore.open({ url, poolSize: 4 }), instanceId: 'i-00000000000000bb' }),
        async run(_dir, sql, ...values) {
          let n = 0;
          await server.sql(url, sql.replace(/\?/g, () => `$${++n}`), values);
        },
      });
    });
  });
});
