import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HangarError } from '../../src/domain/errors.ts';
import {
  configStop, decideDestroy, decideRestart, decideStart, decideStop, decideSuspend, decideUpdate, decideUpdateRefused,
} from '../../src/domain/lifecycle/actions.ts';
import { decideObservation, decideWedged } from '../../src/domain/lifecycle/observations.ts';
import { planRecovery } from '../../src/domain/lifecycle/recovery.ts';
import { parseImageRef } from '../../src/domain/image-ref.ts';
import { normalizeConfig } from '../../src/domain/config.ts';
import { context, machineRecord } from './fixtures.ts';

const exited = (exitCode: number, requested = false) => ({ kind: 'exited' as const, exitCode, oomKilled: false, requested });

describe('start', () => {
  it('cold boots a stopped machine', () => {
    const d = decideStart(machineRecord({ state: 'stopped' }), context());
    assert.equal(d.machine.state, 'starting');
    assert.deepEqual(d.effects, [{ kind: 'launch', resume: false }]);
    assert.equal(d.events[0]?.type, 'start');
  });

  it('resumes a suspended machine once: the snapshot is consumed by the start', () => {
    const d = decideStart(machineRecord({ state: 'suspended', hasSnapshot: true }), context());
    assert.deepEqual(d.effects, [{ kind: 'launch', resume: true }]);
    assert.equal(d.machine.hasSnapshot, false);
  });

  it('cold boots a suspended machine without a snapshot', () => {
    const d = decideStart(machineRecord({ state: 'suspended', hasSnapshot: false }), context());
    assert.deepEqual(d.effects, [{ kind: 'launch', resume: false }]);
  });

  it('keeps a suspending machine running: cancels the suspend, or resumes at once if it finished', () => {
    const d = decideStart(machineRecord({ state: 'suspending', hasSnapshot: false }), context());
    assert.equal(d.machine.state, 'starting');
    assert.deepEqual(d.effects, [{ kind: 'cancel_suspend' }, { kind: 'launch', resume: true }]);
    assert.deepEqual(d.events[0]?.request, { previous_state: 'suspending' });
    const late = decideObservation({ ...d.machine }, { kind: 'suspended' }, context());
    assert.equal(late.machine.state, 'starting', 'a suspend that finished anyway does not take the machine back');
    const running = decideObservation(late.machine, { kind: 'running', resumed: true, suspendCancelled: true }, context());
    assert.equal(running.machine.state, 'started');
    assert.deepEqual(running.events[0]?.request, { resumed: true, restart_count: 0, suspend_cancelled: true });
  });

  it('says why a resume became a cold boot', () => {
    const starting = machineRecord({ state: 'starting' });
    const d = decideObservation(starting, { kind: 'running', resumed: false, coldBootReason: 'the snapshot\'s device state is corrupted' }, context());
    assert.deepEqual(d.events[0]?.request, { resumed: false, restart_count: 0, cold_boot_reason: 'the snapshot\'s device state is corrupted' });
  });

  it('refuses to start a started machine', () => {
    assert.throws(() => decideStart(machineRecord({ state: 'started' }), context()), /machine is started/);
  });
});

describe('stop', () => {
  it('stops a started machine with the config stop signal and timeout', () => {
    const machine = machineRecord({ state: 'started' }, { stop_config: { signal: 'SIGTERM', timeout: '30s' } });
    const d = decideStop(machine, {}, context());
    assert.equal(d.machine.state, 'stopping');
    assert.deepEqual(d.effects, [{ kind: 'stop', signal: 'SIGTERM', timeoutMs: 30_000 }]);
  });

  it('lets the request override signal and timeout (seconds or Go duration)', () => {
    const d = decideStop(machineRecord(), { signal: 'SIGUSR1', timeout: 3 }, context());
    assert.deepEqual(d.effects, [{ kind: 'stop', signal: 'SIGUSR1', timeoutMs: 3000 }]);
    const e = decideStop(machineRecord(), { timeout: '1m' }, context());
    assert.deepEqual(e.effects, [{ kind: 'stop', signal: 'SIGINT', timeoutMs: 60_000 }]);
  });

  it('takes a zero timeout (fly-go\'s "0s" when the user gave none) as unset', () => {
    const configured = machineRecord({ state: 'started' }, { stop_config: { signal: 'SIGTERM', timeout: '30s' } });
    for (const timeout of ['0s', '0', 0, '0ms']) {
      assert.deepEqual(decideStop(configured, { timeout }, context()).effects, [{ kind: 'stop', signal: 'SIGTERM', timeoutMs: 30_000 }]);
      assert.deepEqual(decideStop(machineRecord(), { timeout }, context()).effects, [{ kind: 'stop', signal: 'SIGINT', timeoutMs: 5000 }]);
    }
  });

  it('turns a suspended machine into a stopped one and discards its snapshot', () => {
    const d = decideStop(machineRecord({ state: 'suspended', hasSnapshot: true }), {}, context());
    assert.equal(d.machine.state, 'stopped');
    assert.equal(d.machine.hasSnapshot, false);
    assert.deepEqual(d.effects, [{ kind: 'discard_snapshot' }]);
  });

  it('rejects an unknown signal', () => {
    assert.throws(() => decideStop(machineRecord(), { signal: 'SIGNOPE' }, context()), /unknown signal/);
  });

  it('never fails on what a stored stop_config holds: empty or unreadable values take the defaults', () => {
    const stored = (stop_config: unknown) => {
      const machine = machineRecord({ state: 'started' });
      return { ...machine, config: { ...machine.config, stop_config } } as typeof machine;
    };
    assert.deepEqual(decideStop(stored({ signal: '' }), {}, context()).effects, [{ kind: 'stop', signal: 'SIGINT', timeoutMs: 5000 }]);
    assert.deepEqual(decideStop(stored({ signal: 'sigterm', timeout: '2s' }), {}, context()).effects, [{ kind: 'stop', signal: 'SIGTERM', timeoutMs: 2000 }]);
    assert.deepEqual(decideStop(stored({ signal: 'SIGNOPE', timeout: 'soon' }), {}, context()).effects, [{ kind: 'stop', signal: 'SIGINT', timeoutMs: 5000 }]);
    assert.equal(decideRestart(stored({ signal: '' }), {}, context()).machine.state, 'restarting');
    assert.equal(decideUpdate(stored({ signal: '' }), { config: machineRecord().config, imageRef: machineRecord().imageRef, version: 'v2', skipLaunch: false }, context()).machine.state, 'replacing');
    assert.deepEqual(configStop({ stop_config: { signal: '' } }), { signal: 'SIGINT', timeoutMs: 5000 });
  });
});

describe('suspend', () => {
  it('suspends an eligible started machine', () => {
    const d = decideSuspend(machineRecord(), 2048, context());
    assert.equal(d.machine.state, 'suspending');
    assert.deepEqual(d.effects, [{ kind: 'suspend' }]);
  });

  for (const [label, config, reason] of [
    ['too much memory', { guest: { memory_mb: 4096 } }, /4096 MB/],
    ['swap', { init: { swap_size_mb: 512 } }, /swap/],
    ['a schedule', { schedule: 'hourly' }, /schedule/],
  ] as const) {
    it(`refuses a machine with ${label}`, () => {
      assert.throws(() => decideSuspend(machineRecord({}, config), 2048, context()), (error: unknown) => {
        assert.ok(error instanceof HangarError);
        assert.equal(error.code, 'not_eligible');
        assert.match(error.message, reason);
        return true;
      });
    });
  }

  it('honours a raised memory limit', () => {
    assert.equal(decideSuspend(machineRecord({}, { guest: { memory_mb: 4096 } }), 4096, context()).machine.state, 'suspending');
  });
});

describe('update', () => {
  const update = (skipLaunch = false) => ({
    config: normalizeConfig({ image: 'registry.test/app:2' }),
    imageRef: parseImageRef('registry.test/app:2'),
    version: '01J99999999999999999999999',
    skipLaunch,
  });

  it('replaces a running machine', () => {
    const d = decideUpdate(machineRecord(), update(), context());
    assert.equal(d.machine.state, 'replacing');
    assert.equal(d.machine.version, '01J99999999999999999999999');
    assert.equal(d.effects[0]?.kind, 'replace');
    assert.deepEqual([d.events[0]?.type, d.events[0]?.status, d.events[0]?.source], ['update', 'replacing', 'user']);
  });

  it('treats a suspended machine as stopped: snapshot discarded, then a cold boot', () => {
    const d = decideUpdate(machineRecord({ state: 'suspended', hasSnapshot: true }), update(), context());
    assert.equal(d.machine.state, 'updating');
    assert.deepEqual(d.effects, [{ kind: 'discard_snapshot' }, { kind: 'prepare' }]);
    const prepared = decideObservation(d.machine, { kind: 'prepared' }, context());
    assert.equal(prepared.machine.state, 'starting');
    assert.deepEqual(prepared.effects, [{ kind: 'launch', resume: false }]);
  });

  it('with skip_launch leaves a stopped machine stopped', () => {
    const d = decideUpdate(machineRecord({ state: 'stopped' }), update(true), context());
    const prepared = decideObservation(d.machine, { kind: 'prepared' }, context());
    assert.equal(prepared.machine.state, 'stopped');
    assert.deepEqual(prepared.effects, []);
  });

  it('keeps the running version when the new one cannot be prepared: back to started, rolled back', () => {
    const running = machineRecord();
    const d = decideUpdate(running, update(), context());
    const failed = decideObservation(d.machine, { kind: 'prepare_failed', reason: 'manifest unknown' }, context());
    assert.equal(failed.machine.state, 'started');
    assert.deepEqual([failed.machine.version, failed.machine.config, failed.machine.imageRef], [running.version, running.config, running.imageRef]);
    assert.equal(failed.machine.replacingFrom, undefined);
    assert.deepEqual(failed.events[0]?.request, { error: 'manifest unknown', rolled_back_to: running.version });
    const booted = decideObservation(d.machine, { kind: 'running', resumed: false }, context());
    assert.equal(booted.machine.replacingFrom, undefined, 'forgotten once the new version runs');
  });

  it('records a refused update as an event and changes nothing else', () => {
    const machine = machineRecord();
    const d = decideUpdateRefused(machine, 'registry.test/app:gone', 'manifest unknown', context());
    assert.deepEqual([d.machine.state, d.machine.version, d.effects], ['started', machine.version, []]);
    assert.deepEqual([d.events[0]?.type, d.events[0]?.status, d.events[0]?.request], ['update', 'started', { image: 'registry.test/app:gone', error: 'manifest unknown' }]);
  });
});

describe('destroy', () => {
  it('refuses a running machine without force', () => {
    assert.throws(() => decideDestroy(machineRecord(), false, context()), (error: unknown) => {
      assert.ok(error instanceof HangarError);
      assert.match(error.message, /machine is started/);
      assert.match(error.hint ?? '', /force=true/);
      return true;
    });
  });

  it('destroys a running machine with force, and a stopped one without', () => {
    assert.equal(decideDestroy(machineRecord(), true, context()).machine.state, 'destroying');
    assert.equal(decideDestroy(machineRecord({ state: 'stopped' }), false, context()).machine.state, 'destroying');
  });
});

describe('restart', () => {
  it('force_stop kills at once, whatever the config says', () => {
    const machine = machineRecord({ state: 'started' }, { stop_config: { signal: 'SIGTERM', timeout: '30s' } });
    assert.deepEqual(decideRestart(machine, { force: true }, context()).effects, [{ kind: 'restart', signal: 'SIGKILL', timeoutMs: 0 }]);
  });

  it('restarts a started machine through restarting', () => {
    const d = decideRestart(machineRecord(), {}, context());
    assert.equal(d.machine.state, 'restarting');
    assert.equal(d.effects[0]?.kind, 'restart');
  });
});

describe('exits and restart policies', () => {
  it('records a requested stop as an exit with requested_stop', () => {
    const d = decideObservation(machineRecord({ state: 'stopping' }), exited(0, true), context());
    assert.equal(d.machine.state, 'stopped');
    const request = d.events[0]?.request as { exit_event: { requested_stop: boolean; exit_code: number } };
    assert.deepEqual([d.events[0]?.type, d.events[0]?.status, d.events[0]?.source], ['exit', 'stopped', 'flyd']);
    assert.equal(request.exit_event.requested_stop, true);
  });

  it('policy "no" stops the machine on any exit', () => {
    const d = decideObservation(machineRecord({}, { restart: { policy: 'no' } }), exited(1), context());
    assert.equal(d.machine.state, 'stopped');
  });

  it('on-failure restarts on a failure up to max_retries within the window', () => {
    let machine = machineRecord({}, { restart: { policy: 'on-failure', max_retries: 2 } });
    for (let i = 1; i <= 2; i++) {
      const d = decideObservation(machine, exited(3), context(10_000 + i));
      assert.equal(d.machine.state, 'restarting');
      assert.equal(d.machine.restartCount, i);
      assert.deepEqual(d.effects, [{ kind: 'launch', resume: false }]);
      machine = { ...decideObservation(d.machine, { kind: 'running', resumed: false }, context()).machine };
    }
    const last = decideObservation(machine, exited(3), context(10_010));
    assert.equal(last.machine.state, 'stopped');
  });

  it('on-failure does not restart a clean exit; always does', () => {
    assert.equal(decideObservation(machineRecord({}, { restart: { policy: 'on-failure' } }), exited(0), context()).machine.state, 'stopped');
    assert.equal(decideObservation(machineRecord({}, { restart: { policy: 'always' } }), exited(0), context()).machine.state, 'restarting');
  });

  it('auto_destroy destroys a machine that exits for good', () => {
    const d = decideObservation(machineRecord({}, { auto_destroy: true, restart: { policy: 'no' } }), exited(0), context());
    assert.equal(d.machine.state, 'destroying');
    assert.deepEqual(d.effects, [{ kind: 'destroy' }]);
  });

  it('ignores a boot that finishes after the user asked for a stop', () => {
    const d = decideObservation(machineRecord({ state: 'stopping' }), { kind: 'running', resumed: false }, context());
    assert.equal(d.machine.state, 'stopping');
    assert.equal(d.machine.observed.vm, 'running');
  });
});

describe('wedged machines', () => {
  it('flags a transient state held past its threshold once', () => {
    const machine = machineRecord({ state: 'starting', stateSince: 0 });
    assert.equal(decideWedged(machine, 1000, context(500)), null);
    const flagged = decideWedged(machine, 1000, context(1500));
    assert.ok(flagged);
    assert.equal(flagged.events[0]?.type, 'wedged');
    assert.equal(decideWedged(flagged.machine, 1000, context(3000)), null);
  });
});

describe('recovery: what hangar asks of the host decides, never what it assumes', () => {
  const running = { vm: 'running' as const, version: '01J00000000000000000000000' };
  it('keeps a running VM and records the exit of one that died, saying why', () => {
    assert.deepEqual(planRecovery(machineRecord(), running), { effects: [] });
    const lost = planRecovery(machineRecord(), { vm: 'absent', detail: 'QEMU was paused on an I/O error and was ended' });
    assert.deepEqual(lost.observation, {
      kind: 'exited', exitCode: 255, oomKilled: false, requested: false, vmm: { reason: 'QEMU was paused on an I/O error and was ended', log: [] },
    });
    const gone = planRecovery(machineRecord(), { vm: 'absent' });
    assert.match(String(gone.observation?.kind === 'exited' && gone.observation.vmm?.reason), /no longer running when hangar restarted/);
  });

  it('finishes interrupted operations', () => {
    assert.deepEqual(planRecovery(machineRecord({ state: 'starting' }), { vm: 'absent' }).effects, [{ kind: 'launch', resume: false }]);
    assert.deepEqual(planRecovery(machineRecord({ state: 'destroying' }), { vm: 'absent' }).effects, [{ kind: 'destroy' }]);
    assert.equal(planRecovery(machineRecord({ state: 'suspended', hasSnapshot: true }), { vm: 'absent' }).snapshotLost, true);
  });

  it('reports a recovered resume as a resume, and a resume that never loaded its state as a cold boot with the reason', () => {
    const starting = machineRecord({ state: 'starting' });
    assert.deepEqual(planRecovery(starting, { ...running, resumed: true }).observation, { kind: 'running', resumed: true });
    const interrupted = 'hangar stopped during the resume, before QEMU had loaded the VM state';
    assert.deepEqual(planRecovery(starting, { vm: 'absent', detail: interrupted }).effects, [{ kind: 'launch', resume: false, coldBootReason: interrupted }]);
  });

  it('redoes what a state says was asked but a running VM cannot show: a restart, a snapshot to discard', () => {
    const restarting = machineRecord({ state: 'restarting' });
    assert.deepEqual(planRecovery(restarting, running).effects, [{ kind: 'restart', signal: 'SIGINT', timeoutMs: 5000 }]);
    assert.equal(planRecovery(restarting, running).observation, undefined, 'not reported running before it restarted');
    for (const state of ['stopped', 'created', 'failed'] as const) {
      assert.deepEqual(planRecovery(machineRecord({ state }), { vm: 'suspended' }).effects, [{ kind: 'discard_snapshot' }], state);
    }
  });

  it('discards the snapshot of a suspended VM under an exit it records: a stop that overtook a resume, a started machine', () => {
    // A resume queued, then a stop, neither taken before the host came back: the stop is finished, and leaves nothing.
    const stopping = planRecovery(machineRecord({ state: 'stopping' }), { vm: 'suspended' });
    assert.deepEqual(stopping.observation, exited(0, true));
    assert.deepEqual(stopping.effects, [{ kind: 'discard_snapshot' }]);
    const started = planRecovery(machineRecord(), { vm: 'suspended' });
    assert.equal(started.observation?.kind, 'exited');
    assert.deepEqual(started.effects, [{ kind: 'discard_snapshot' }]);
  });

  it('resumes a start that was interrupted before it touched the snapshot', () => {
    assert.deepEqual(planRecovery(machineRecord({ state: 'starting' }), { vm: 'suspended' }).effects, [{ kind: 'launch', resume: true }]);
  });

  it('carries an acknowledged suspend through: again on a VM that runs (continued), recorded when it was saved', () => {
    const suspending = machineRecord({ state: 'suspending' });
    assert.deepEqual(planRecovery(suspending, { ...running, detail: 'continued the VM, paused by an interrupted suspend' }).effects, [{ kind: 'suspend' }]);
    assert.deepEqual(planRecovery(suspending, { vm: 'suspended' }).observation, { kind: 'suspended' });
  });

  it('replaces again when the VM that runs is still the old version', () => {
    const replacing = machineRecord({ state: 'replacing', version: '01JNEW0000000000000000000' });
    assert.deepEqual(planRecovery(replacing, running).effects, [{ kind: 'replace', signal: 'SIGINT', timeoutMs: 5000 }]);
    assert.deepEqual(planRecovery(replacing, { ...running, version: '01JNEW0000000000000000000' }).observation, { kind: 'running', resumed: false });
  });
});

describe('a VM that is not what the record says', () => {
  const vmm = { reason: 'the VM is paused (io-error): No space left on device', log: ['qemu: warning'] };
  it('records the VMM\'s death apart from the app\'s exit, and applies the restart policy', () => {
    const d = decideObservation(machineRecord(), { kind: 'exited', exitCode: 255, oomKilled: false, requested: false, vmm }, context());
    assert.equal(d.machine.state, 'restarting');
    assert.deepEqual(d.events[0]?.request.vmm_exit, { reason: vmm.reason, log: vmm.log });
    const app = decideObservation(machineRecord(), exited(3), context());
    assert.equal(app.events[0]?.request.vmm_exit, undefined, 'an app that exits is not a VMM that died');
  });

  it('acts on a watchdog\'s finding only while the machine is started', () => {
    const d = decideObservation(machineRecord({}, { restart: { policy: 'no' } }), { kind: 'vm_failed', vmm }, context());
    assert.equal(d.machine.state, 'stopped');
    assert.deepEqual([d.events[0]?.type, d.events[0]?.request.vmm_exit], ['exit', vmm]);
    const stopping = decideObservation(machineRecord({ state: 'stopping' }), { kind: 'vm_failed', vmm }, context());
    assert.deepEqual([stopping.machine.state, stopping.events, stopping.effects], ['stopping', [], []]);
  });

  it('counts an exit once: a report about a VM whose end is already recorded changes nothing', () => {
    // The watchdog found VM 41 gone first and the machine restarted on VM 42; then the driver's own report of VM 41's end arrives.
    const found = decideObservation(machineRecord({ observed: { vm: 'running', pid: 41, at: 1000 } }), { kind: 'vm_failed', vmm }, context());
    assert.deepEqual([found.machine.state, found.machine.restartCount], ['restarting', 1]);
    const late = { ...exited(137), signal: 9, pid: 41 };
    const whileRestarting = decideObservation(found.machine, late, context());
    assert.deepEqual([whileRestarting.machine.state, whileRestarting.machine.restartCount, whileRestarting.events, whileRestarting.effects], ['restarting', 1, [], []]);
    const restarted = decideObservation(found.machine, { kind: 'running', resumed: false, pid: 42 }, context()).machine;
    const afterwards = decideObservation(restarted, late, context());
    assert.deepEqual([afterwards.machine.state, afterwards.machine.restartCount, afterwards.events, afterwards.effects], ['started', 1, [], []]);
    const own = decideObservation(restarted, { ...late, pid: 42 }, context());
    assert.deepEqual([own.machine.state, own.machine.restartCount], ['restarting', 2], 'the end of the VM it runs counts');
  });

  it('keeps the snapshot when a resume is refused before it was used', () => {
    const d = decideObservation(machineRecord({ state: 'starting' }), { kind: 'launch_failed', reason: 'not enough disk space', snapshotKept: true }, context());
    assert.equal(d.machine.state, 'suspended');
    assert.equal(d.machine.hasSnapshot, true);
    assert.deepEqual([d.events[0]?.type, d.events[0]?.status, d.events[0]?.request.error], ['launch', 'suspended', 'not enough disk space']);
  });
});
