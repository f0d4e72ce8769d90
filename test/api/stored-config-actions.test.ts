/**
 * No config hangar has accepted may make a lifecycle action fail: what a create
 * stored is read again by stop, restart, suspend, update and destroy, and by the
 * host when it boots the machine.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

/** A config as a Go client may send it: fields the user left unset carry Go's zero values. */
const ZERO_VALUED = {
  image: 'registry.test/hello:1',
  env: {},
  init: { exec: [], entrypoint: [], cmd: [], tty: false, swap_size_mb: 0, kernel_args: [] },
  guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256, gpus: 0, gpu_kind: '', host_dedication_id: '', kernel_args: [] },
  metadata: {},
  restart: { policy: '', max_retries: 0 },
  stop_config: { signal: '' },
  schedule: '',
  size: '',
  auto_destroy: false,
  dns: { skip_registration: false, nameservers: [], searches: [] },
  rootfs: { persist: '', size_gb: 0 },
  services: [{ protocol: 'tcp', internal_port: 8080, autostop: false, autostart: false, min_machines_running: 0, ports: [], concurrency: { type: '' } }],
  checks: {},
  files: [],
  mounts: [],
  processes: [],
  standbys: [],
  statics: [],
  disable_machine_autostart: false,
};

describe('a stored config and the lifecycle', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('stored');
  });
  after(() => t.close());
  const url = (id: string, action = '') => `/v1/apps/${app}/machines/${id}${action}`;

  async function everyAction(id: string): Promise<void> {
    await t.waitFor(app, id, 'started');
    const stop = await t.call('POST', url(id, '/stop'));
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    assert.equal((await t.waitFor(app, id, 'stopped')).status, 200);
    assert.equal((await t.call('POST', url(id, '/start'))).status, 200);
    await t.waitFor(app, id, 'started');
    const restart = await t.call('POST', url(id, '/restart'));
    assert.equal(restart.status, 200, JSON.stringify(restart.body));
    await t.waitFor(app, id, 'started');
    const suspend = await t.call('POST', url(id, '/suspend'));
    assert.equal(suspend.status, 200, JSON.stringify(suspend.body));
    await t.waitFor(app, id, 'suspended');
    assert.equal((await t.call('POST', url(id, '/start'))).status, 200);
    await t.waitFor(app, id, 'started');
    const shown = (await t.call('GET', url(id))).body;
    const update = await t.call('POST', url(id), { config: shown.config });
    assert.equal(update.status, 200, JSON.stringify(update.body));
    await t.waitFor(app, id, 'started');
    const destroy = await t.call('DELETE', url(id, '?force=true'));
    assert.equal(destroy.status, 200, JSON.stringify(destroy.body));
  }

  it('stops, restarts, suspends, updates and destroys a machine created with Go zero values (stop_config.signal "")', async () => {
    const created = await t.call('POST', `/v1/apps/${app}/machines`, { config: ZERO_VALUED });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    await everyAction(created.body.id);
    const stop = t.driver.calls.find((call) => call.op === 'stop' && call.machineId === created.body.id);
    assert.deepEqual(stop?.detail, { signal: 'SIGINT', timeoutMs: 5000 });
  });

  it('stores an empty stop signal as unset', async () => {
    const created = await t.machine(app, { config: { image: 'registry.test/hello:1', stop_config: { signal: '', timeout: '3s' } } });
    assert.deepEqual(created.config.stop_config, { timeout: '3s' });
  });

  it('acts on a machine stored with stop_config.signal "" before it was taken as unset', async () => {
    const created = await t.machine(app);
    await t.waitFor(app, created.id, 'started');
    const store = t.hangar.control.store;
    const machine = await store.getMachine(app, created.id);
    assert.ok(machine);
    await store.commit({ machine: { ...machine, config: { ...machine.config, stop_config: { signal: '' } } }, events: [] });
    await everyAction(created.id);
  });
});
