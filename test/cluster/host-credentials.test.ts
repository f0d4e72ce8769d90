/**
 * Each host is trusted as itself only. Holding one host's credentials (its
 * database role and its certificate), every act on another host, another host's
 * machines or another app is refused, and nothing changes: the database's
 * row-level security, the agents' mutual TLS, and the agent's own check of the
 * work it is given each stop one part of it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PostgresChecks } from '../../src/store/postgres/checks.ts';
import { fakeLedger, type HostCredentials, startCluster, type TestCluster } from '../helpers/cluster.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';

const image = 'registry.test/hello:1';
const small = { image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } };

describe('a host\'s credentials', { skip: postgresSkipReason() }, () => {
  let c: TestCluster;
  let fra1: HostCredentials;
  let db: pg.Client;
  let mine: { id: string };
  let theirs: { id: string };
  let volume: { id: string };
  before(async () => {
    c = await startCluster({ replicas: 1, hosts: [{ id: 'fra-1', region: 'fra' }, { id: 'syd-1', region: 'syd' }] });
    for (const name of ['web', 'other']) assert.equal((await c.call(0, 'POST', '/v1/apps', { name, org_slug: 'personal' })).status, 201);
    volume = (await c.call(0, 'POST', '/v1/apps/other/volumes', { name: 'data', region: 'syd', size_gb: 1 })).body;
    theirs = (await c.call(0, 'POST', '/v1/apps/other/machines', { region: 'syd', config: { ...small, mounts: [{ volume: volume.id, path: '/data' }] } })).body;
    mine = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small, skip_launch: true })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/other/machines/${theirs.id}/wait?state=started&timeout=30`)).status, 200);
    // syd-1 acknowledges its own work a little after running it: that is not a change fra-1 made.
    for (let i = 0; i < 100 && (await c.pg.sql(c.storeUrl, "SELECT 1 FROM host_work WHERE host_id = 'syd-1'")).rows.length > 0; i++) await sleep(50);
    fra1 = await c.credentials('fra-1');
    db = new pg.Client({ connectionString: fra1.storeUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await c?.stop();
  });

  /** What another host and another app have, as the owner reads it. */
  const snapshot = async () => {
    const read = async (text: string) => (await c.pg.sql(c.storeUrl, text)).rows;
    return {
      machine: await read(`SELECT doc, rev, host_id FROM machines WHERE id = '${theirs.id}'`),
      events: await read(`SELECT count(*) FROM machine_events WHERE machine_id = '${theirs.id}'`),
      host: await read("SELECT epoch, state, instance_id FROM hosts WHERE id = 'syd-1'"),
      hosts: await read('SELECT id FROM hosts ORDER BY id'),
      work: await read("SELECT count(*) FROM host_work WHERE host_id = 'syd-1'"),
      volume: await read(`SELECT doc FROM volumes WHERE id = '${volume.id}'`),
      checks: await read(`SELECT count(*) FROM machine_checks WHERE machine_id = '${theirs.id}'`),
    };
  };
  /** Runs `text` as fra-1; answers the rows it wrote or read, or the database's refusal. */
  const asFra1 = async (text: string, values: unknown[] = []): Promise<number | 'refused'> => {
    try {
      return (await db.query(text, values)).rowCount ?? 0;
    } catch {
      return 'refused';
    }
  };

  it('refuses every act as another host, on another host\'s machines or another app, and changes nothing', async () => {
    const before = await snapshot();
    const work = JSON.stringify({ hostId: 'syd-1', rev: 99, spec: { machineId: theirs.id, appName: 'other', config: small }, effects: [{ kind: 'destroy' }] });
    const acts: Array<[string, Promise<number | 'refused'>]> = [
      ['read another app\'s machine config', asFra1('SELECT doc FROM machines WHERE id = $1', [theirs.id])],
      ['write another host\'s machine', asFra1("UPDATE machines SET state = 'stopped' WHERE id = $1", [theirs.id])],
      ['move another host\'s machine onto itself', asFra1("UPDATE machines SET host_id = 'fra-1' WHERE id = $1", [theirs.id])],
      ['raise another host\'s epoch', asFra1("UPDATE hosts SET epoch = epoch + 1 WHERE id = 'syd-1'")],
      ['declare another host lost', asFra1("UPDATE hosts SET state = 'lost' WHERE id = 'syd-1'")],
      ['register a host of its own making', asFra1("INSERT INTO hosts (id, region, any_region, epoch, doc) VALUES ('syd-9', 'syd', false, 1, '{}')")],
      ['queue work for another host', asFra1('INSERT INTO host_work (host_id, machine_id, doc) VALUES ($1, $2, $3)', ['syd-1', theirs.id, work])],
      ['queue work for another host\'s machine on itself', asFra1('INSERT INTO host_work (host_id, machine_id, doc) VALUES ($1, $2, $3)', ['fra-1', theirs.id, work])],
      ['take another host\'s work', asFra1("DELETE FROM host_work WHERE host_id = 'syd-1'")],
      ['write another host\'s machine\'s history', asFra1("INSERT INTO machine_events (id, machine_id, doc) VALUES ('01ZZZZZZZZZZZZZZZZZZZZZZZZ', $1, '{}')", [theirs.id])],
      ['change another app\'s volume', asFra1("UPDATE volumes SET attached_machine_id = NULL WHERE id = $1", [volume.id])],
      ['read the apps', asFra1('SELECT * FROM apps')],
      ['read the volume snapshots', asFra1('SELECT * FROM volume_snapshots')],
      ['read another host\'s row', asFra1("SELECT * FROM hosts WHERE id = 'syd-1'")],
      ['record another host\'s machine\'s checks', asFra1("INSERT INTO machine_checks (machine_id, name, status, output, updated_at) VALUES ($1, 'alive', 'passing', '', 1)", [theirs.id])],
    ];
    for (const [act, outcome] of acts) {
      const result = await outcome;
      assert.ok(result === 'refused' || result === 0, `${act}: ${result} rows`);
    }

    // The agents' API: a host's certificate is not a replica's, on another host or its own.
    assert.equal((await c.agentFetch('syd-1', `/agent/v1/machines/${theirs.id}/ps`, { method: 'POST', as: fra1.dir })).status, 403, 'call another host\'s agent');
    assert.equal((await c.agentFetch('syd-1', `/agent/v1/volumes/${volume.id}`, { method: 'DELETE', as: fra1.dir })).status, 403, 'delete a volume through it');
    assert.equal((await c.agentFetch('fra-1', '/agent/v1/space', { as: fra1.dir })).status, 403, 'drive its own agent as a replica');
    // Its certificate does not make it another host.
    const posing = await c.refusedServe(['--role', 'host', '--host-id', 'syd-1', '--region', 'syd', '--driver', 'fake', '--cluster-dir', fra1.dir]);
    assert.notEqual(posing.code, 0);
    assert.match(posing.output, /holds host fra-1's identity, not host syd-1's/);

    assert.deepEqual(await snapshot(), before, 'nothing changed');
    assert.equal((await c.call(0, 'GET', `/v1/apps/other/machines/${theirs.id}`)).body.state, 'started');
  });

  it('records its own machines\' check results, which the replicas show while the machine is started, and only in Fly\'s words', async () => {
    const checked = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small })).body;
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${checked.id}/wait?state=started&timeout=30`)).status, 200);
    const pool = new pg.Pool({ connectionString: fra1.storeUrl, max: 1 });
    try {
      const records = new PostgresChecks(pool);
      const at = Date.parse('2026-12-05T01:02:03.000Z');
      await records.putChecks(checked.id, [{ name: 'alive', status: 'critical', output: 'GET /: 503\u0000', updatedAt: at }]);
      await records.putChecks(checked.id, [{ name: 'alive', status: 'passing', output: 'GET /: 200', updatedAt: at }, { name: 'odd', status: 'sort of', output: '', updatedAt: at }]);
      const shown = (await c.call(0, 'GET', `/v1/apps/web/machines/${checked.id}`)).body;
      assert.deepEqual(shown.checks, [{ name: 'alive', status: 'passing', output: 'GET /: 200', updated_at: '2026-12-05T01:02:03.000Z' }]);
      const listed = (await c.call(0, 'GET', '/v1/apps/web/machines')).body.find((m: { id: string }) => m.id === checked.id);
      assert.deepEqual(listed.checks, shown.checks, 'the listing shows the same');
      await assert.rejects(records.putChecks(theirs.id, [{ name: 'alive', status: 'passing', output: '', updatedAt: at }]), /row-level security/);

      assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${checked.id}/stop`)).status, 200);
      assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${checked.id}/wait?state=stopped&timeout=30`)).status, 200);
      assert.deepEqual((await c.call(0, 'GET', `/v1/apps/web/machines/${checked.id}`)).body.checks, [], 'a stopped machine\'s last results are not shown');
    } finally {
      await pool.end();
    }
  });

  it('its agent does not boot work that mounts another app\'s volume, even queued by its own credentials', async () => {
    const forged = { ...small, mounts: [{ volume: volume.id, path: '/data' }] };
    // Its own machine, pointed at another app's volume on another host, and a boot queued for it.
    assert.equal(await asFra1(`UPDATE machines SET doc = jsonb_set(doc::jsonb, '{config}', $2::jsonb)::text WHERE id = $1`, [mine.id, JSON.stringify(forged)]), 1);
    const spec = { machineId: mine.id, appName: 'web', name: 'forged', region: 'fra', version: 'v', config: forged, imageRef: {}, privateIp: '', hostId: 'fra-1' };
    const work = JSON.stringify({ hostId: 'fra-1', rev: 99, spec, effects: [{ kind: 'launch', resume: false }] });
    assert.equal(await asFra1('INSERT INTO host_work (host_id, machine_id, doc) VALUES ($1, $2, $3)', ['fra-1', mine.id, work]), 1);
    for (let i = 0; i < 50 && Number((await c.pg.sql(c.storeUrl, `SELECT count(*) FROM host_work WHERE machine_id = '${mine.id}'`)).rows[0].count) > 0; i++) await sleep(100);
    assert.equal(Number((await c.pg.sql(c.storeUrl, `SELECT count(*) FROM host_work WHERE machine_id = '${mine.id}'`)).rows[0].count), 0, 'read and dropped');
    const fra = c.hosts.get('fra-1');
    assert.ok(fra);
    assert.deepEqual(fakeLedger(fra).filter((entry) => entry.machineId === mine.id), [], 'nothing booted');
    assert.match(fra.output(), /refused queued work: machine .* mounts volume/);
  });
});
