/**
 * A host agent that holds its host again (declared lost and back, or taken back)
 * recovers its machines while work its previous session took may still run in the
 * agent: the work a session took is not withdrawn when the session ends. Recovery
 * must read each machine and its VM only once that work has run, or it decides on
 * a VM about to change (a suspend under way reads as running). And what it still
 * holds of machines that are not its own any more is ended.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { describe, it } from 'node:test';
import type { HostAgent } from '../../src/agent/host-agent.ts';
import { hostWork } from '../../src/assemble/host-work.ts';
import type { HostSession } from '../../src/cluster/host-session.ts';
import { writeMachineById } from '../../src/control/machine-writer.ts';
import { ControlObserver } from '../../src/control/observer.ts';
import type { HostRecord } from '../../src/domain/host.ts';
import { decideWrittenOff } from '../../src/domain/lifecycle/actions.ts';
import type { MachineRecord } from '../../src/domain/machine.ts';
import { specOf } from '../../src/domain/runtime.ts';
import { testHangar } from '../helpers/hangar.ts';

describe('recovery after a session of the host ends', () => {
  it('reads a machine once the suspend its previous session took has run, so the start after it is done', async () => {
    const t = await testHangar({ delays: { suspendMs: 300, resumeMs: 10, bootMs: 10 } });
    try {
      const app = await t.app();
      const m = await t.machine(app);
      assert.equal((await t.waitFor(app, m.id, 'started')).status, 200);
      const control = t.hangar.control;
      const agent = control.runtime as HostAgent;
      const session = t.hangar.host as HostSession;
      const host = session.record as HostRecord;
      // The session ends (its host declared lost, say): its drain takes nothing more.
      await session.stop();

      // It had taken a suspend, which runs on in the agent...
      assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${m.id}/suspend`)).status, 200);
      const suspending = await control.store.getMachineById(m.id) as MachineRecord;
      void agent.submit(specOf(suspending), [{ kind: 'suspend' }]);
      // ...and not the start asked after it (which cancels a suspend, or resumes what it left).
      assert.equal((await t.call('POST', `/v1/apps/${app}/machines/${m.id}/start`)).status, 200);

      // The host is held again: recovery, then the next session's drain.
      const log = pino({ level: 'silent' });
      const stopWork = await hostWork(control, agent, new ControlObserver(() => control, log), log).serve(host);
      await new Promise((resolve) => setTimeout(resolve, 500));
      await agent.idle();
      const shown = (await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body;
      await stopWork();
      assert.deepEqual([shown.state, t.driver.vmState(m.id)], ['started', 'running'], 'the start asked last is done, and the machine and its VM agree');
    } finally {
      await t.close();
    }
  });
});

describe('recovery of a host that was away', () => {
  it('ends what the host holds of machines written off meanwhile or with no record, and keeps its own', async () => {
    const t = await testHangar();
    try {
      const app = await t.app();
      const [kept, writtenOff] = [await t.machine(app), await t.machine(app)];
      for (const m of [kept, writtenOff]) assert.equal((await t.waitFor(app, m.id, 'started')).status, 200);
      const control = t.hangar.control;
      const agent = control.runtime as HostAgent;
      const session = t.hangar.host as HostSession;
      const host = session.record as HostRecord;
      await session.stop();

      // While the host is away, one machine is written off, and a VM is on it that no record names.
      await writeMachineById(control, writtenOff.id, (current, ctx) => decideWrittenOff(current, 'written off by the test', ctx));
      const stray = { ...specOf(await control.store.getMachineById(kept.id) as MachineRecord), machineId: 'e0000000000001' };
      await t.driver.launch(stray, { resume: false });
      assert.deepEqual([t.driver.vmState(writtenOff.id), t.driver.vmState(stray.machineId)], ['running', 'running']);

      const log = pino({ level: 'silent' });
      const stopWork = await hostWork(control, agent, new ControlObserver(() => control, log), log).serve(host);
      await stopWork();
      assert.deepEqual([t.driver.vmState(kept.id), t.driver.vmState(writtenOff.id), t.driver.vmState(stray.machineId)], ['running', 'absent', 'absent']);
      assert.equal((await t.call('GET', `/v1/apps/${app}/machines/${kept.id}`)).body.state, 'started');
    } finally {
      await t.close();
    }
  });
});
