import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('machines API', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('web');
  });
  after(() => t.close());

  it('creates a machine with Fly defaults and boots it', async () => {
    const m = await t.machine(app);
    assert.match(m.id, /^[0-9a-f]{14}$/);
    assert.match(m.name, /^[a-z]+-[a-z]+-\d{4}$/);
    assert.match(m.instance_id, /^[0-9A-Z]{26}$/);
    assert.equal(m.version, m.instance_id);
    assert.equal(m.region, 'local');
    assert.match(m.private_ip, /^fdaa:/);
    assert.equal(m.host_status, 'ok');
    assert.equal(m.cordoned, false);
    assert.deepEqual(m.config.guest, { cpu_kind: 'shared', cpus: 1, memory_mb: 256 });
    assert.deepEqual(m.config.init, {});
    assert.deepEqual([m.image_ref.registry, m.image_ref.repository, m.image_ref.tag], ['registry.test', 'hello', '1']);
    assert.match(m.image_ref.digest, /^sha256:/);
    assert.equal(m.nonce, undefined);
    assert.equal((await t.waitFor(app, m.id, 'started')).status, 200);
  });

  it('keeps a skip_launch machine in created, honours name, region, size and skip_service_registration', async () => {
    const m = await t.machine(app, {
      name: 'worker-1', region: 'ams', skip_launch: true, skip_service_registration: true,
      config: { image: 'registry.test/hello:1', size: 'shared-cpu-2x' },
    });
    assert.equal(m.state, 'created');
    assert.equal(m.name, 'worker-1');
    assert.equal(m.region, 'ams');
    assert.equal(m.cordoned, true);
    assert.deepEqual(m.config.guest, { cpu_kind: 'shared', cpus: 2, memory_mb: 512 });
    await t.idle();
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body.state, 'created');
  });

  it('answers 422 name_taken for a duplicate name', async () => {
    await t.machine(app, { name: 'unique-one', skip_launch: true });
    const reply = await t.call('POST', `/v1/apps/${app}/machines`, { name: 'unique-one', config: { image: 'registry.test/hello:1' } });
    assert.equal(reply.status, 422);
    assert.equal(reply.body.status, 'name_taken');
  });

  it('returns the lease nonce on create with lease_ttl', async () => {
    const m = await t.machine(app, { lease_ttl: 60, skip_launch: true });
    assert.match(m.nonce, /^[0-9a-f]{32}$/);
    const lease = await t.call('GET', `/v1/apps/${app}/machines/${m.id}/lease`);
    assert.equal(lease.body.data.nonce, m.nonce);
    const shown = await t.call('GET', `/v1/apps/${app}/machines/${m.id}`);
    assert.equal(shown.body.nonce, undefined);
  });

  for (const [label, config, pattern] of [
    ['no image', {}, /image/],
    ['memory not a multiple of 256', { image: 'a/b', guest: { memory_mb: 300 } }, /multiple of 256/],
    ['an unknown size', { image: 'a/b', size: 'giant-9x' }, /unknown size/],
    ['a bad restart policy', { image: 'a/b', restart: { policy: 'maybe' } }, /restart.policy/],
  ] as const) {
    it(`rejects a config with ${label} and creates nothing`, async () => {
      const before = (await t.call('GET', `/v1/apps/${app}/machines?include_deleted=true`)).body.length;
      const reply = await t.call('POST', `/v1/apps/${app}/machines`, { config });
      assert.equal(reply.status, 400);
      assert.match(reply.body.error, pattern);
      assert.equal(typeof reply.body.status, 'string');
      assert.equal((await t.call('GET', `/v1/apps/${app}/machines?include_deleted=true`)).body.length, before);
    });
  }

  it('rejects a machine for an unknown app with 404', async () => {
    const reply = await t.call('POST', '/v1/apps/nope/machines', { config: { image: 'a/b' } });
    assert.equal(reply.status, 404);
    assert.match(reply.body.error, /app not found/);
  });

  it('answers 404 "machine not found" for an unknown machine', async () => {
    const reply = await t.call('GET', `/v1/apps/${app}/machines/ffffffffffffff`);
    assert.equal(reply.status, 404);
    assert.match(reply.body.error, /machine not found/);
  });

  it('lists with filters: state, region, metadata, summary, include_deleted', async () => {
    const other = await t.app('filters');
    const a = await t.machine(other, { region: 'ams', skip_launch: true, config: { image: 'r.test/a:1', metadata: { role: 'db' } } });
    const b = await t.machine(other, { region: 'ord', config: { image: 'r.test/a:1', metadata: { role: 'web' } } });
    await t.waitFor(other, b.id, 'started');
    const ids = async (query: string) => (await t.call('GET', `/v1/apps/${other}/machines${query}`)).body.map((m: { id: string }) => m.id).sort();
    assert.deepEqual(await ids(''), [a.id, b.id].sort());
    assert.deepEqual(await ids('?region=ams'), [a.id]);
    assert.deepEqual(await ids('?state=started'), [b.id]);
    assert.deepEqual(await ids('?state=created,started'), [a.id, b.id].sort());
    assert.deepEqual(await ids('?metadata.role=web'), [b.id]);
    const summary = (await t.call('GET', `/v1/apps/${other}/machines?summary=true`)).body;
    assert.equal(summary[0].config, undefined);
    assert.equal(summary[0].events, undefined);
    const full = (await t.call('GET', `/v1/apps/${other}/machines`)).body;
    assert.ok(full.every((m: { events: unknown[] }) => Array.isArray(m.events)));
    assert.equal((await t.call('DELETE', `/v1/apps/${other}/machines/${a.id}`)).status, 200);
    await t.waitFor(other, a.id, 'destroyed');
    assert.deepEqual(await ids(''), [b.id]);
    assert.deepEqual(await ids('?include_deleted=true'), [a.id, b.id].sort());
  });

  it('updates a running machine: new version, restart on it, old version reads replaced', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    const stale = await t.call('POST', `/v1/apps/${app}/machines/${m.id}`, { current_version: '01JXXXXXXXXXXXXXXXXXXXXXXX', config: { image: 'registry.test/hello:2' } });
    assert.equal(stale.status, 412);
    const renamed = await t.call('POST', `/v1/apps/${app}/machines/${m.id}`, { name: 'other', config: { image: 'registry.test/hello:2' } });
    assert.equal(renamed.status, 400);
    assert.match(renamed.body.error, /name is immutable/);
    const moved = await t.call('POST', `/v1/apps/${app}/machines/${m.id}`, { region: 'syd', config: { image: 'registry.test/hello:2' } });
    assert.match(moved.body.error, /region is immutable/);

    const updated = await t.call('POST', `/v1/apps/${app}/machines/${m.id}`, { current_version: m.instance_id, config: { image: 'registry.test/hello:2', env: { A: '1' } } });
    assert.equal(updated.status, 200);
    assert.notEqual(updated.body.instance_id, m.instance_id);
    assert.equal(updated.body.state, 'replacing');
    const waited = await t.call('GET', `/v1/apps/${app}/machines/${m.id}/wait?state=started&version=${updated.body.instance_id}&timeout=10`);
    assert.equal(waited.body.version, updated.body.instance_id);
    const replaced = (await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body;
    assert.deepEqual([replaced.image_ref.tag, replaced.image_ref.digest], ['2', t.driver.digestOf('registry.test/hello:2')], 'the new image\'s digest once it booted');
    const old = await t.call('GET', `/v1/apps/${app}/machines/${m.id}?version=${m.instance_id}`);
    assert.equal(old.body.state, 'replaced');
    assert.equal(old.body.config.image, 'registry.test/hello:1');
    const versions = (await t.call('GET', `/v1/apps/${app}/machines/${m.id}/versions`)).body;
    assert.deepEqual(versions.map((v: { version: string }) => v.version), [updated.body.instance_id, m.instance_id]);
    assert.equal(versions[0].user_config.env.A, '1');
    const launches = t.driver.calls.filter((c) => c.op === 'launch' && c.machineId === m.id).map((c) => c.detail);
    assert.deepEqual(launches, [m.instance_id, updated.body.instance_id]);
  });

  it('updates a stopped machine and starts it, unless skip_launch', async () => {
    const m = await t.machine(app, { skip_launch: true });
    const kept = await t.call('POST', `/v1/apps/${app}/machines/${m.id}`, { skip_launch: true, config: { image: 'registry.test/hello:3' } });
    assert.equal(kept.status, 200);
    await t.idle();
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body.state, 'created');
    await t.call('POST', `/v1/apps/${app}/machines/${m.id}`, { config: { image: 'registry.test/hello:4' } });
    assert.equal((await t.waitFor(app, m.id, 'started')).status, 200);
  });

  it('answers services[].autostop as Fly does: booleans for "off" and "stop", "suspend" as is; a round trip keeps it', async () => {
    // Fly's spec (fly.MachineService.autostop): "the API continues to use booleans for \"off\" and \"stop\" in
    // responses"; fly-go's MachineAutostop.MarshalJSON writes false, true and "suspend", and reads all five forms.
    const sent = [false, true, 'off', 'stop', 'suspend'];
    const service = (autostop: unknown, i: number) => ({ protocol: 'tcp', internal_port: 8000 + i, autostop });
    const created = await t.machine(app, { skip_launch: true, config: { image: 'registry.test/hello:1', services: sent.map(service) } });
    const answered = [false, true, false, true, 'suspend'];
    assert.deepEqual(created.config.services.map((s: { autostop: unknown }) => s.autostop), answered);
    const updated = await t.call('POST', `/v1/apps/${app}/machines/${created.id}`, { config: created.config, skip_launch: true });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.deepEqual(updated.body.config.services, created.config.services);
  });

  it('refuses to destroy a running machine without force; force and kill work', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    const refused = await t.call('DELETE', `/v1/apps/${app}/machines/${m.id}`);
    assert.equal(refused.status, 412);
    assert.match(refused.body.error, /machine is started/);
    assert.equal((await t.call('DELETE', `/v1/apps/${app}/machines/${m.id}?force=true`)).status, 200);
    assert.equal((await t.waitFor(app, m.id, 'destroyed')).status, 200);
    assert.equal(t.driver.vmState(m.id), 'absent');

    const n = await t.machine(app);
    await t.waitFor(app, n.id, 'started');
    assert.equal((await t.call('DELETE', `/v1/apps/${app}/machines/${n.id}?kill=true`)).status, 200);
    assert.equal((await t.waitFor(app, n.id, 'destroyed')).status, 200);
    const gone = await t.call('POST', `/v1/apps/${app}/machines/${n.id}/start`);
    assert.equal(gone.status, 412);
    assert.match(gone.body.error, /machine is destroyed/);
  });

  it('lists events newest first in Fly\'s shapes', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    await t.call('POST', `/v1/apps/${app}/machines/${m.id}/stop`);
    await t.waitFor(app, m.id, 'stopped');
    const events = (await t.call('GET', `/v1/apps/${app}/machines/${m.id}/events`)).body;
    const tuples = events.map((e: { type: string; status: string; source: string }) => `${e.type}/${e.status}/${e.source}`);
    assert.deepEqual(tuples, ['exit/stopped/flyd', 'stop/stopping/user', 'start/started/flyd', 'launch/created/user']);
    const ids = events.map((e: { id: string }) => e.id);
    assert.deepEqual([...ids].sort().reverse(), ids);
    assert.ok(events.every((e: { timestamp: number; id: string }) => Number.isInteger(e.timestamp) && /^[0-9A-Z]{26}$/.test(e.id)));
    const exit = events[0].request.exit_event;
    assert.deepEqual(Object.keys(exit).sort(), ['exit_code', 'exited_at', 'oom_killed', 'requested_stop', 'restarting', 'signal']);
    assert.equal(exit.requested_stop, true);
    assert.equal(events[0].request.restart_count, 0);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}/events?limit=2`)).body.length, 2);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}/events?limit=99`)).status, 400);
  });

  it('runs exec (command or flyctl\'s cmd), ps and signal through the driver', async () => {
    const m = await t.machine(app, { config: { image: 'registry.test/hello:1', restart: { policy: 'no' } } });
    await t.waitFor(app, m.id, 'started');
    const exec = await t.call('POST', `/v1/apps/${app}/machines/${m.id}/exec`, { command: ['echo', 'hello'] });
    assert.deepEqual(exec.body, { stdout: 'hello\n', stderr: '', exit_code: 0, exit_signal: 0 });
    const cmd = await t.call('POST', `/v1/apps/${app}/machines/${m.id}/exec`, { cmd: "echo 'two words'" });
    assert.equal(cmd.body.stdout, 'two words\n');
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${m.id}/exec`, {})).status, 400);
    const ps = await t.call('GET', `/v1/apps/${app}/machines/${m.id}/ps`);
    assert.equal(ps.status, 200);
    assert.ok(ps.body.length >= 1);
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${m.id}/signal`, { signal: 'SIGUSR1' })).status, 200);
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${m.id}/signal`, { signal: 'SIGBOGUS' })).status, 400);
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${m.id}/signal`, { signal: 9 })).status, 200);
    assert.equal((await t.waitFor(app, m.id, 'stopped')).status, 200);
    const refused = await t.call('POST', `/v1/apps/${app}/machines/${m.id}/exec`, { command: ['echo'] });
    assert.equal(refused.status, 412);
    assert.match(refused.body.error, /machine is stopped/);
  });

  it('cordons and uncordons', async () => {
    const m = await t.machine(app, { skip_launch: true });
    assert.deepEqual((await t.call('POST', `/v1/apps/${app}/machines/${m.id}/cordon`)).body, { ok: true });
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body.cordoned, true);
    await t.call('POST', `/v1/apps/${app}/machines/${m.id}/uncordon`);
    assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body.cordoned, false);
  });
});
