/**
 * The control plane's side of "a VM is never frozen while the API says started",
 * on the fake driver: the watchdog's finding, a VMM that dies, a resume refused
 * before it touched the snapshot, and a crash of hangar during a resume.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkVms } from '../../src/control/watchdog.ts';
import type { HostAgent } from '../../src/agent/host-agent.ts';
import { specOf } from '../../src/domain/runtime.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';

describe('the VM behind a started machine', () => {
  let t: TestHangar;
  let app: string;
  before(async () => {
    t = await testHangar();
    app = await t.app('truth');
  });
  after(() => t.close());

  const url = (id: string, action = '') => `/v1/apps/${app}/machines/${id}${action}`;
  const events = async (id: string) => (await t.call('GET', url(id, '/events'))).body as Array<{ type: string; status: string; request: Record<string, any> }>; // eslint-disable-line @typescript-eslint/no-explicit-any

  it('is checked by the watchdog: a VM that does not run is ended, and the restart policy applies with the reason', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    assert.equal(await checkVms(t.hangar.control, t.hangar.control.runtime as HostAgent) >= 1, true);
    await t.idle();
    assert.equal((await t.call('GET', url(m.id))).body.state, 'started', 'a VM that runs is left alone');

    t.driver.freezeMachine(m.id, 'QEMU reports the VM io-error: No space left on device on disk0');
    await checkVms(t.hangar.control, t.hangar.control.runtime as HostAgent);
    await t.idle();
    assert.ok(t.driver.calls.some((c) => c.op === 'kill' && c.machineId === m.id), 'the frozen VM was ended');
    await t.waitFor(app, m.id, 'started');
    const exit = (await events(m.id)).find((e) => e.type === 'exit');
    assert.deepEqual(exit?.request.vmm_exit, { reason: 'QEMU reports the VM io-error: No space left on device on disk0', log: [] });
    assert.equal(exit?.request.exit_event.restarting, true);
    assert.equal(t.driver.vmState(m.id), 'running', 'booted again');
  });

  it('counts one restart for one exit when the watchdog looks just as the app ends', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    const record = await t.hangar.control.store.getMachineById(m.id);
    // The check is queued first; the app ends before it runs, and the driver's report of that exit queues behind it.
    (t.hangar.control.runtime as HostAgent).checkVm(specOf(record!));
    t.driver.exitMachine(m.id, 137, false, 9);
    await t.idle();
    await t.waitFor(app, m.id, 'started');
    const exits = (await events(m.id)).filter((e) => e.type === 'exit');
    assert.deepEqual(exits.map((e) => [e.request.exit_event.exit_code, e.request.exit_event.restarting, e.request.restart_count]), [[137, true, 1]]);
    assert.equal(t.driver.calls.filter((c) => c.op === 'launch' && c.machineId === m.id).length, 2, 'booted once, restarted once');
    assert.equal(t.driver.calls.some((c) => c.op === 'kill' && c.machineId === m.id), false, 'the watchdog left the end to the driver\'s report');
  });

  it('stops a frozen machine whose policy is "no", saying why', async () => {
    const m = await t.machine(app, { config: { image: 'registry.test/hello:1', restart: { policy: 'no' } } });
    await t.waitFor(app, m.id, 'started');
    t.driver.freezeMachine(m.id, 'QEMU does not answer');
    await checkVms(t.hangar.control, t.hangar.control.runtime as HostAgent);
    await t.idle();
    assert.equal((await t.call('GET', url(m.id))).body.state, 'stopped');
    assert.equal((await events(m.id))[0]?.request.vmm_exit.reason, 'QEMU does not answer');
  });

  it('tells a VMM that died apart from an app that exited', async () => {
    const m = await t.machine(app, { config: { image: 'registry.test/hello:1', restart: { policy: 'no' } } });
    await t.waitFor(app, m.id, 'started');
    t.driver.crashVmm(m.id, 'QEMU ended without shutting the VM down (it was killed or crashed)');
    await t.waitFor(app, m.id, 'stopped');
    const exit = (await events(m.id))[0];
    assert.equal(exit?.type, 'exit');
    assert.match(String(exit?.request.vmm_exit?.reason), /killed or crashed/);
    assert.deepEqual(exit?.request.vmm_exit?.log, ['fake: QEMU ended without shutting the VM down (it was killed or crashed)']);
  });

  it('keeps the snapshot when a resume is refused before it began (no disk space), and resumes later', async () => {
    const m = await t.machine(app);
    await t.waitFor(app, m.id, 'started');
    await t.call('POST', url(m.id, '/suspend'));
    await t.waitFor(app, m.id, 'suspended');
    t.driver.refuseNextResume('cannot resume: not enough disk space for the machine\'s memory; the snapshot is kept');
    assert.equal((await t.call('POST', url(m.id, '/start'))).status, 200);
    await t.idle();
    const shown = (await t.call('GET', url(m.id))).body;
    assert.equal(shown.state, 'suspended');
    assert.match(String((await events(m.id))[0]?.request.error), /not enough disk space/);
    await t.call('POST', url(m.id, '/start'));
    await t.waitFor(app, m.id, 'started');
    assert.equal((await events(m.id))[0]?.request.resumed, true, 'the kept snapshot was resumed');
  });
});
