/**
 * A host agent that holds its host again (declared lost and back, or taken back)
 * recovers its machines while work its previous session took may still run in the
 * agent: the work a session took is not withdrawn when the session ends. Recovery
 * must read each machine and its VM only once that work has run, or it decides on
 * a VM about to change (a suspend under way reads as running).
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { describe, it } from 'node:test';
import type { HostAgent } from '../../src/agent/host-agent.ts';
import { hostWork } from '../../src/assemble/host-work.ts';
import type { HostSession } from '../../src/cluster/host-session.ts';
import { ControlObserver } from '../../src/control/observer.ts';
import type { HostRecord } from '../../src/domain/host.ts';
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
