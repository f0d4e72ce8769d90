/**
 * One process per host, and only where it belongs: a host id is held by one
 * instance (a second is refused, a take-over fences the first), `--role all` does
 * not take over a cluster's database, and an idle machine is retired by one host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fakeLedger, startCluster, type TestCluster } from '../helpers/cluster.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';

const image = 'registry.test/hello:1';
const small = { image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } };
/** flyctl's default service: stopped by the proxy when idle. */
const autostopping = {
  ...small,
  services: [{ protocol: 'tcp', internal_port: 8080, autostop: 'stop', autostart: true, ports: [{ port: 80, handlers: ['http'] }] }],
};

interface Event { type: string; status: string }

describe('host identity and roles', { skip: postgresSkipReason() }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startCluster({
      replicas: 1,
      commonArgs: ['--autostop-after', '2s', '--log-level', 'info'],
      hosts: [{ id: 'fra-1', region: 'fra' }, { id: 'syd-1', region: 'syd' }],
    });
    assert.equal((await c.call(0, 'POST', '/v1/apps', { name: 'web', org_slug: 'personal' })).status, 201);
  });
  after(() => c?.stop());

  const events = async (id: string): Promise<Event[]> => (await c.call(0, 'GET', `/v1/apps/web/machines/${id}/events`)).body;
  const startedMachine = async (region: string, config: object = small): Promise<{ id: string; host_id: string }> => {
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region, config })).body;
    const waited = await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`);
    assert.equal(waited.status, 200, JSON.stringify(waited.body));
    return m;
  };

  it('retires an idle autostop machine once, from the one host that decides its region, however the others restart', async () => {
    const m = await startedMachine('syd', autostopping);
    // fra-1 restarted while the machine runs: its view holds the machine `started`, but syd-1 decides for (web, syd).
    const fra = c.hosts.get('fra-1');
    assert.ok(fra);
    await fra.stop();
    await c.startHost({ id: 'fra-1', region: 'fra' }, fra.dataDir);
    const stopped = await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=stopped&timeout=20`);
    assert.equal(stopped.status, 200, JSON.stringify(await events(m.id)));
    await sleep(2_000);
    assert.equal((await events(m.id)).filter((e) => e.type === 'stop').length, 1, JSON.stringify(await events(m.id)));
    assert.match(c.hosts.get('syd-1')?.output() ?? '', new RegExp(`stopped idle machine ${m.id}`));
    assert.doesNotMatch(c.hosts.get('fra-1')?.output() ?? '', new RegExp(`idle machine ${m.id}`));
  });

  it('refuses --role all on a database where hosts are registered, changing nothing', async () => {
    const m = await startedMachine('fra');
    const before = (await events(m.id)).length;
    const refused = await c.refusedServe(['--driver', 'fake']);
    assert.notEqual(refused.code, 0, refused.output);
    assert.match(refused.output, /--role (api|host)/, refused.output);
    await sleep(1_000);
    const shown = (await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}`)).body;
    assert.equal(shown.state, 'started');
    assert.equal((await events(m.id)).length, before, 'no exit, no relaunch');
    const hosts = (await c.call(0, 'GET', '/hangar/v1/hosts')).body.map((h: { id: string }) => h.id);
    assert.deepEqual(hosts, ['fra-1', 'syd-1'], 'it registered no host');
  });

  it('gives each host a number of its own from the database, kept in its data directory; refuses another host\'s and a data directory that disagrees', async () => {
    const hosts = (await c.call(0, 'GET', '/hangar/v1/hosts')).body as Array<{ id: string; host_number: string }>;
    const numbers = hosts.map((h) => h.host_number);
    assert.equal(new Set(numbers).size, 2, JSON.stringify(hosts));
    for (const h of hosts) assert.equal(readFileSync(join((c.hosts.get(h.id) as { dataDir: string }).dataDir, 'host-number'), 'utf8').trim(), h.host_number);
    const syd = hosts.find((h) => h.id === 'syd-1') as { host_number: string };

    const asked = await c.refusedServe(['--role', 'host', '--host-id', 'ams-1', '--region', 'ams', '--driver', 'fake', '--host-number', syd.host_number], undefined, 'ams-1');
    assert.notEqual(asked.code, 0, asked.output);
    assert.match(asked.output, new RegExp(`host number ${syd.host_number} \\(--host-number\\) is host syd-1's`));
    const elsewhere = mkdtempSync(join(tmpdir(), 'hangar-kept-'));
    try {
      writeFileSync(join(elsewhere, 'host-number'), `${syd.host_number}\n`);
      const kept = await c.refusedServe(['--role', 'host', '--host-id', 'ams-1', '--region', 'ams', '--driver', 'fake'], elsewhere, 'ams-1');
      assert.notEqual(kept.code, 0, kept.output);
      assert.match(kept.output, /which this data directory keeps, is host syd-1's/);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
    const numbered = await c.pg.sql(c.storeUrl, 'SELECT host_id FROM host_numbers ORDER BY host_id');
    assert.deepEqual(numbered.rows.map((row) => row.host_id), ['fra-1', 'syd-1'], 'the refused starts took no number');
  });

  it('refuses a second process for a host whose instance is alive, naming the holder and --take-over', async () => {
    const holder = (await c.call(0, 'GET', '/hangar/v1/hosts')).body.find((h: { id: string }) => h.id === 'fra-1');
    const refused = await c.refusedServe(['--role', 'host', '--host-id', 'fra-1', '--region', 'fra', '--driver', 'fake'], undefined, 'fra-1');
    assert.notEqual(refused.code, 0, refused.output);
    assert.match(refused.output, /fra-1/);
    assert.match(refused.output, new RegExp(holder.instance_id));
    assert.match(refused.output, /--take-over/);
    const after = (await c.call(0, 'GET', '/hangar/v1/hosts')).body.find((h: { id: string }) => h.id === 'fra-1');
    assert.equal(after.epoch, holder.epoch, 'the refused process did not register');
  });

  it('fences the old instance on --take-over: it stops taking work and closes its agent API, and the new one runs the machines', async () => {
    const old = c.hosts.get('fra-1');
    assert.ok(old);
    const m = (await c.call(0, 'POST', '/v1/apps/web/machines', { region: 'fra', config: small, skip_launch: true })).body;
    assert.equal(m.host_id, 'fra-1');
    const replacement = await c.startHost({ id: 'fra-1', region: 'fra', extraArgs: ['--take-over'] });
    // The old instance learns at its next heartbeat (every 2 s) and closes its agent API.
    let closed = false;
    for (let i = 0; i < 100 && !closed; i++) {
      closed = await fetch(`${old.url}/agent/v1/space`).then(() => false, () => true);
      if (!closed) await sleep(100);
    }
    assert.ok(closed, `the old agent API still answers:\n${old.output()}`);
    for (let cycle = 0; cycle < 5; cycle++) {
      assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/start`)).status, 200);
      assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200, replacement.output());
      assert.equal((await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/stop`)).status, 200);
      assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=stopped&timeout=30`)).status, 200);
    }
    const exec = await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/start`);
    assert.equal(exec.status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/web/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    const ran = await c.call(0, 'POST', `/v1/apps/web/machines/${m.id}/exec`, { command: ['hostname'] });
    assert.equal(ran.status, 200, 'the replacement answers for the machine');
    assert.match(old.output(), /taken over/i, 'the old instance says why it stopped');
    assert.deepEqual(fakeLedger(old).filter((entry) => entry.machineId === m.id), [], 'the old instance ran none of its work');
    assert.ok(fakeLedger(replacement).some((entry) => entry.machineId === m.id && entry.vm === 'running'));
  });
});
