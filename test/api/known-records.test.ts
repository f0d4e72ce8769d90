/**
 * A host agent's reports are decided first on the record its process last read or
 * wrote (src/control/known-records.ts): one that is no longer current is read again,
 * and nothing is decided on it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { writeMachineById } from '../../src/control/machine-writer.ts';
import type { MachineRecord } from '../../src/domain/machine.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('reports on records the host agent knows', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar(); });
  after(() => t.close());

  it('decides a report on the current record when the one known is stale, and keeps what changed since', async () => {
    const app = await t.app();
    const { id } = await t.machine(app, { skip_launch: true });
    const control = t.hangar.control;
    const stale = await control.store.getMachineById(id) as MachineRecord;
    // Changed by someone else since (a replica, in a cluster): the record known is one revision behind.
    assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${id}/metadata/team`, { value: 'core' })).status, 204);
    control.known?.forget(id);
    control.known?.remember(stale);
    const seen: number[] = [];
    const { after } = await writeMachineById(control, id, (machine, ctx) => {
      seen.push(machine.rev);
      return { machine: { ...machine, updatedAt: ctx.now }, events: [], effects: [] };
    });
    assert.deepEqual(seen, [stale.rev, stale.rev + 1], 'decided on the known record, then on the one read');
    assert.equal(after.rev, stale.rev + 2);
    assert.equal(after.config.metadata?.team, 'core', 'the change made since is kept');
    assert.equal(control.known?.get(id)?.rev, after.rev, 'what it wrote is known');
  });
});

describe('creates in an app this process knows', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar(); });
  after(() => t.close());

  it('give a machine the network of the app there now when the app was deleted and made again elsewhere', async () => {
    const app = await t.app('again');
    const first = await t.machine(app, { skip_launch: true });
    assert.equal((await t.call('DELETE', `/v1/apps/${app}/machines/${first.id}?force=true`)).status, 200);
    assert.equal((await t.waitFor(app, first.id, 'destroyed')).status, 200);
    // Deleted and made again by another process (a replica) behind this one's back: a new app, a new network.
    const { store } = t.hangar.control;
    await store.markAppDeleting(app);
    await store.deleteApp(app);
    await t.app('again');
    const network = (await store.getApp(app))?.netNumber as number;
    const second = await t.machine(app, { skip_launch: true });
    assert.equal(second.private_ip.split(':')[2], network.toString(16), `${second.private_ip} is in the app's network now`);
    assert.notEqual(second.private_ip.split(':')[2], first.private_ip.split(':')[2]);
  });
});
