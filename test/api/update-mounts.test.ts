/**
 * An update that adds a mount attaches the volume, as a create does (409 when
 * another machine has it, 404 when there is none, 400 when it is on another
 * host), and one that removes a mount lets the volume go, once no VM of the old
 * version can still be using it. A refused update changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

const IMAGE = 'registry.test/hello:1';

describe('update and volumes', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('mounts');
  });
  after(() => t.close());

  const machineUrl = (id: string, rest = '') => `/v1/apps/${app}/machines/${id}${rest}`;
  const volumeUrl = (id = '') => `/v1/apps/${app}/volumes${id ? `/${id}` : ''}`;
  const newVolume = async (name: string): Promise<string> => (await t.call('POST', volumeUrl(), { name, size_gb: 1 })).body.id;
  const holder = async (volumeId: string): Promise<string | undefined> => (await t.call('GET', volumeUrl(volumeId))).body.attached_machine_id;
  const mounted = (volume: string) => ({ image: IMAGE, mounts: [{ volume, path: '/data' }] });
  const shown = async (id: string) => (await t.call('GET', machineUrl(id))).body;

  it('attaches a volume an update adds to a stopped machine: it is the machine\'s, not deletable, not another\'s', async () => {
    const volume = await newVolume('added');
    const m = await t.machine(app, { skip_launch: true });
    const updated = await t.call('POST', machineUrl(m.id), { config: mounted(volume) });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(await holder(volume), m.id);
    assert.deepEqual(updated.body.config.mounts, [{ volume, path: '/data', name: 'added', size_gb: 1, encrypted: true }]);
    await t.waitFor(app, m.id, 'started');
    assert.equal((await t.call('DELETE', volumeUrl(volume))).status, 412, 'an attached volume is not deleted');
    const other = await t.call('POST', `/v1/apps/${app}/machines`, { config: mounted(volume) });
    assert.equal(other.status, 409, 'a second machine cannot have it');
  });

  it('attaches a volume an update adds to a running machine', async () => {
    const volume = await newVolume('hot_added');
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    const updated = await t.call('POST', machineUrl(m.id), { config: mounted(volume) });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(await holder(volume), m.id);
    await t.call('GET', machineUrl(m.id, `/wait?state=started&version=${updated.body.instance_id}&timeout=10`));
    await t.idle();
    assert.equal(await holder(volume), m.id);
  });

  it('refuses a volume attached elsewhere with 409, an unknown one with 404, one of another host with 400, changing nothing', async () => {
    const taken = await newVolume('taken');
    const owner = await t.machine(app, { skip_launch: true, config: mounted(taken) });
    const m = await t.machine(app, { skip_launch: true });
    const conflict = await t.call('POST', machineUrl(m.id), { config: mounted(taken) });
    assert.equal(conflict.status, 409, JSON.stringify(conflict.body));
    assert.match(conflict.body.error, new RegExp(`already attached to machine ${owner.id}`));
    assert.equal(await holder(taken), owner.id);

    const unknown = await t.call('POST', machineUrl(m.id), { config: mounted('vol_nonexistent00000') });
    assert.equal(unknown.status, 404, JSON.stringify(unknown.body));

    const far = await newVolume('far_away');
    const store = t.hangar.control.store;
    const record = await store.getVolume(far);
    assert.ok(record);
    await store.putVolume({ ...record, hostId: 'another-host' });
    const elsewhere = await t.call('POST', machineUrl(m.id), { config: mounted(far) });
    assert.equal(elsewhere.status, 400, JSON.stringify(elsewhere.body));
    assert.match(elsewhere.body.error, /another-host/);
    assert.equal(await holder(far), undefined);

    const after = await shown(m.id);
    assert.equal(after.instance_id, m.instance_id, 'no new version');
    assert.equal(after.config.mounts, undefined);
    assert.equal(after.state, 'created');
  });

  it('attaches nothing when the update is refused for its lease or state', async () => {
    const volume = await newVolume('leased');
    const m = await t.machine(app, { skip_launch: true, lease_ttl: 60 });
    const refused = await t.call('POST', machineUrl(m.id), { config: mounted(volume) });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(refused.body.error, /lease currently held/);
    assert.equal(await holder(volume), undefined);
    const nonce = { 'fly-machine-lease-nonce': m.nonce as string };
    assert.equal((await t.call('DELETE', machineUrl(m.id), undefined, nonce)).status, 200);
    await t.waitFor(app, m.id, 'destroyed');
    const gone = await t.call('POST', machineUrl(m.id), { config: mounted(volume) }, nonce);
    assert.equal(gone.status, 412, JSON.stringify(gone.body));
    assert.equal(await holder(volume), undefined);
  });

  it('lets go of a volume an update removes from a stopped machine at once', async () => {
    const volume = await newVolume('removed');
    const m = await t.machine(app, { skip_launch: true, config: mounted(volume) });
    assert.equal(await holder(volume), m.id);
    const updated = await t.call('POST', machineUrl(m.id), { config: { image: IMAGE }, skip_launch: true });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(await holder(volume), undefined);
    assert.equal((await t.call('DELETE', volumeUrl(volume))).status, 200);
  });

  it('lets go of a volume an update removes from a running machine once the old VM is replaced', async () => {
    const volume = await newVolume('replaced');
    const m = await t.machine(app, { config: mounted(volume) });
    await t.waitFor(app, m.id, 'started');
    const updated = await t.call('POST', machineUrl(m.id), { config: { image: 'registry.test/hello:2' } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(updated.body.state, 'replacing');
    await t.call('GET', machineUrl(m.id, `/wait?state=started&version=${updated.body.instance_id}&timeout=10`));
    await t.idle();
    assert.equal(await holder(volume), undefined);
  });

  it('keeps the volume of the version that runs when a replacement that removes it rolls back', async () => {
    const old = await newVolume('kept');
    const m = await t.machine(app, { config: mounted(old) });
    await t.waitFor(app, m.id, 'started');
    t.driver.failNext('prepare', 'no space left on device');
    const removed = await t.call('POST', machineUrl(m.id), { config: { image: 'registry.test/hello:2' } });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.equal(removed.body.state, 'replacing');
    // The old VM runs on until the new version boots: meanwhile its volume stays its own.
    assert.equal(await holder(old), m.id);
    await t.waitFor(app, m.id, 'started');
    await t.idle();
    const rolledBack = await shown(m.id);
    assert.equal(rolledBack.instance_id, m.instance_id, 'rolled back');
    assert.equal(await holder(old), m.id, 'the version that runs mounts it');
  });

  it('lets go of a volume an update added when its replacement rolls back', async () => {
    // Preparing takes a while here, so the machine is seen replacing with the volume attached.
    const slow = await testHangar({ delays: { prepareMs: 300 } });
    try {
      const name = await slow.app('slow-mounts');
      const fresh = (await slow.call('POST', `/v1/apps/${name}/volumes`, { name: 'fresh', size_gb: 1 })).body.id;
      const plain = await slow.machine(name);
      await slow.waitFor(name, plain.id, 'started');
      slow.driver.failNext('prepare', 'no space left on device');
      const added = await slow.call('POST', `/v1/apps/${name}/machines/${plain.id}`, { config: { ...mounted(fresh), image: 'registry.test/hello:3' } });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.equal(added.body.state, 'replacing');
      const during = (await slow.call('GET', `/v1/apps/${name}/volumes/${fresh}`)).body;
      assert.equal(during.attached_machine_id, plain.id, 'attached while the new version is prepared');
      await slow.waitFor(name, plain.id, 'started');
      await slow.idle();
      assert.equal((await slow.call('GET', `/v1/apps/${name}/machines/${plain.id}`)).body.instance_id, plain.instance_id, 'rolled back');
      const after = (await slow.call('GET', `/v1/apps/${name}/volumes/${fresh}`)).body;
      assert.equal(after.attached_machine_id, undefined, 'the version that runs does not mount it');
    } finally {
      await slow.close();
    }
  });
});
