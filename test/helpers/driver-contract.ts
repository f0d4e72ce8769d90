/**
 * The VMM driver contract: what the host agent relies on from any driver. The
 * same cases run against the fake driver (test/unit/fake-driver-contract.test.ts)
 * and the QEMU driver on real microVMs (test/e2e/driver-contract.test.ts),
 * so the fake that backs the API tests cannot drift from the real thing.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Compile } from 'typebox/compile';
import { GUEST_OPS, type GuestOpName } from '../../src/domain/guest-ops.ts';
import type { ExitInfo, MachineSpec, VmmDriver } from '../../src/vmm/driver.ts';
import { copyPacked } from './packed-files.ts';

export interface DriverHarness {
  /** A driver over this host's VMs; opened again after `close()`, it must find the VMs still there. */
  open(): VmmDriver;
  /** A machine running the contract image, whose main process keeps running until it is stopped. */
  spec(machineId: string): MachineSpec;
  /** A driver over another host's VMs (its own directories), the target of a move. */
  openOtherHost(): VmmDriver;
  /** An image reference the driver cannot prepare (no such image). */
  missingImage: string;
  /** What the machine left on the host (processes, links, files), for the destroy case; [] when nothing. */
  leftovers(machineId: string): string[];
}

const EXEC_MS = 10_000;

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Registers the contract's cases (inside the caller's `describe`); ids are 14 hex characters made from `prefix`. */
export function driverContract(harness: DriverHarness, prefix: string): void {
  // The number leads: a TAP is named after an id's first 12 characters.
  const id = (n: number) => `${prefix}${n.toString(16).padStart(2, '0')}`.padEnd(14, '0');
  let driver: VmmDriver;
  const exits: Array<[string, ExitInfo]> = [];
  const open = () => {
    driver = harness.open();
    driver.onExit((machineId, exit) => exits.push([machineId, exit]));
    return driver;
  };
  const run = async (machineId: string, command: string[]) => driver.exec(machineId, { command, timeoutMs: EXEC_MS });

  it('prepares an image, and refuses one that cannot be had', async () => {
    open();
    const spec = harness.spec(id(1));
    assert.match((await driver.prepare(spec, AbortSignal.timeout(300_000))).imageRef.digest, /^sha256:[0-9a-f]{64}$/);
    const missing = { ...spec, machineId: id(2), config: { ...spec.config, image: harness.missingImage } };
    await assert.rejects(driver.prepare(missing, AbortSignal.timeout(60_000)));
  });

  it('gives up a prepare whose signal has aborted, with the signal\'s reason', async () => {
    const controller = new AbortController();
    controller.abort(new Error('image preparation timed out'));
    await assert.rejects(driver.prepare(harness.spec(id(2)), controller.signal), /image preparation timed out/);
  });

  it('boots cold, runs commands, stops with the exit, and has nothing to stop afterwards', async () => {
    const machineId = id(1);
    const launched = await driver.launch(harness.spec(machineId), { resume: false });
    assert.equal(launched.resumed, false);
    assert.equal(launched.coldBootReason, undefined);
    assert.deepEqual(await run(machineId, ['echo', 'hello']), { stdout: 'hello\n', stderr: '', exit_code: 0, exit_signal: 0 });
    assert.equal((await run(machineId, ['false'])).exit_code, 1);
    assert.ok((await driver.ps(machineId)).length >= 1);
    const exit = await driver.stop(machineId, 'SIGTERM', 5000);
    assert.ok(exit && Number.isInteger(exit.exitCode) && typeof exit.oomKilled === 'boolean');
    assert.equal(exits.length, 0, 'a requested stop is not reported as an exit nobody asked for');
    await assert.rejects(run(machineId, ['echo', 'gone']));
    assert.equal(await driver.stop(machineId, 'SIGTERM', 1000), null);
  });

  it('answers every guest operation in the shape its table declares', async () => {
    const machineId = id(1);
    await driver.launch(harness.spec(machineId), { resume: false });
    const fits = (name: GuestOpName, result: unknown) => {
      const op = GUEST_OPS[name];
      assert.ok('result' in op && Compile(op.result).Check(result), `${name}: ${JSON.stringify(result)}`);
    };
    fits('exec', await run(machineId, ['echo', 'shape']));
    fits('ps', await driver.ps(machineId));
    fits('memory', await driver.memory(machineId));
    fits('setMemoryLimit', await driver.setMemoryLimit(machineId, { limitMb: 192 }));
    fits('reclaimMemory', await driver.reclaimMemory(machineId, { amountMb: 16 }));
    for await (const line of driver.logs(machineId, { tail: 5, follow: false }, AbortSignal.timeout(EXEC_MS))) assert.equal(typeof line, 'string');
    await driver.stop(machineId, 'SIGTERM', 5000);
  });

  it('reports an exit nobody asked for, with the signal that ended the process and the VM it is about', async () => {
    const machineId = id(1);
    const { pid } = await driver.launch(harness.spec(machineId), { resume: false });
    assert.ok(pid, 'a launch names its VM (its VMM process)');
    await driver.signal(machineId, { signal: 'SIGKILL' });
    await until(() => exits.length > 0, 'the exit');
    assert.deepEqual(exits.splice(0), [[machineId, { exitCode: 137, oomKilled: false, signal: 9, pid }]]);
  });

  it('starts from a blank root filesystem on every cold boot, keeps it on resume, and resumes a snapshot once', async () => {
    const machineId = id(1);
    await driver.launch(harness.spec(machineId), { resume: false });
    assert.equal((await run(machineId, ['touch', '/marker'])).exit_code, 0);
    await driver.suspend(machineId);
    await assert.rejects(run(machineId, ['echo', 'suspended']));
    const resumed = await driver.launch(harness.spec(machineId), { resume: true });
    assert.equal(resumed.resumed, true);
    assert.equal((await run(machineId, ['ls', '/marker'])).exit_code, 0, 'the guest carries on where it was');

    await driver.suspend(machineId);
    await driver.discardSnapshot(machineId);
    const cold = await driver.launch(harness.spec(machineId), { resume: true });
    assert.equal(cold.resumed, false);
    assert.match(cold.coldBootReason ?? '', /\w/, 'a resume that became a cold boot says why');
    assert.notEqual((await run(machineId, ['ls', '/marker'])).exit_code, 0, 'a cold boot starts blank');
    await driver.stop(machineId, 'SIGKILL', 0);
  });

  it('carries a suspended machine\'s snapshot to another host, where it resumes with its memory, and nowhere else', async () => {
    const machineId = id(8);
    await driver.launch(harness.spec(machineId), { resume: false });
    assert.equal((await run(machineId, ['touch', '/carried'])).exit_code, 0);
    await assert.rejects(driver.packSnapshot(machineId), 'a running machine has no snapshot to carry');
    await driver.suspend(machineId);
    const packed = await driver.packSnapshot(machineId);
    // What crosses to the other host: copies of the files, in a directory of its own.
    const inbox = mkdtempSync(join(tmpdir(), 'hangar-contract-inbox-'));
    const received = await copyPacked(packed, inbox);
    await driver.destroy(machineId);
    const other = harness.openOtherHost();
    try {
      await other.unpackSnapshot(harness.spec(machineId), received);
      // Its move committed: readied for the resume, which it makes no different.
      await other.readyToResume(harness.spec(machineId));
      const resumed = await other.launch(harness.spec(machineId), { resume: true });
      assert.equal(resumed.resumed, true, resumed.coldBootReason);
      assert.equal((await other.exec(machineId, { command: ['ls', '/carried'], timeoutMs: EXEC_MS })).exit_code, 0, 'the guest carries on where it was');
      await assert.rejects(run(machineId, ['echo', 'here']), 'and runs on the other host only');
      await other.destroy(machineId);
    } finally {
      await other.close();
      rmSync(inbox, { recursive: true, force: true });
    }
  });

  it('keeps the VM running when a start cancels the suspend in progress', async () => {
    const machineId = id(1);
    await driver.launch(harness.spec(machineId), { resume: false });
    await run(machineId, ['touch', '/marker']);
    const suspending = driver.suspend(machineId).then(() => 'suspended', () => 'cancelled');
    driver.cancelSuspend(machineId);
    const outcome = await suspending;
    const started = await driver.launch(harness.spec(machineId), { resume: true });
    assert.equal(started.resumed, true);
    if (outcome === 'cancelled') assert.equal(started.suspendCancelled, true);
    assert.equal((await run(machineId, ['ls', '/marker'])).exit_code, 0);
  });

  it('forks a running machine: each child resumes from the parent\'s guest, and the parent runs on', async () => {
    const [parent, children] = [id(5), [id(6), id(7)]];
    await driver.launch(harness.spec(parent), { resume: false });
    assert.equal((await run(parent, ['touch', '/before-fork'])).exit_code, 0);
    await driver.fork(parent, children.map((child) => harness.spec(child)));
    assert.equal((await run(parent, ['touch', '/after-fork'])).exit_code, 0, 'the parent runs on');
    for (const child of children) {
      assert.equal((await driver.launch(harness.spec(child), { resume: true })).resumed, true);
      assert.equal((await run(child, ['ls', '/before-fork'])).exit_code, 0, 'a child starts from the parent\'s guest');
      assert.notEqual((await run(child, ['ls', '/after-fork'])).exit_code, 0, 'what the parent does after the fork is not the child\'s');
    }
    await assert.rejects(driver.fork(id(8), [harness.spec(id(9))]), 'a machine that does not run cannot be forked');
    for (const machineId of [parent, ...children, id(9)]) await driver.destroy(machineId);
    for (const machineId of [parent, ...children, id(9)]) assert.deepEqual(harness.leftovers(machineId), [], machineId);
  });

  it('is found again by a driver restarted on the same host: running and suspended VMs, and no others', async () => {
    const [running, suspended, gone] = [id(1), id(3), id(4)];
    await driver.launch(harness.spec(suspended), { resume: false });
    await driver.suspend(suspended);
    await driver.close();
    open();
    const found = await driver.recover([running, suspended, gone].map((machineId) => harness.spec(machineId)));
    assert.deepEqual(Object.fromEntries([...found].map(([machineId, vm]) => [machineId, vm.vm])), { [running]: 'running', [suspended]: 'suspended', [gone]: 'absent' });
    assert.equal(found.get(running)?.version, harness.spec(running).version, 'a running VM is found with the version it was launched with');
    const held = await driver.held();
    assert.deepEqual([held.includes(running), held.includes(suspended), held.includes(gone)], [true, true, false], 'the host holds the running and the suspended VM');
    assert.deepEqual(await run(running, ['echo', 'still here']), { stdout: 'still here\n', stderr: '', exit_code: 0, exit_signal: 0 });
    assert.equal((await driver.launch(harness.spec(suspended), { resume: true })).resumed, true);
  });

  it('destroys a machine without a trace, whatever state it is in', async () => {
    const machines = [id(1), id(3)];
    await driver.suspend(id(3));
    for (const machineId of machines) await driver.destroy(machineId);
    await driver.destroy(id(4));
    const found = await driver.recover(machines.map((machineId) => harness.spec(machineId)));
    assert.deepEqual([...found.values()].map((vm) => vm.vm), ['absent', 'absent']);
    for (const machineId of machines) assert.deepEqual(harness.leftovers(machineId), [], machineId);
    assert.deepEqual((await driver.held()).filter((machineId) => machines.includes(machineId)), [], 'the host holds nothing of them');
    await driver.close();
  });
}
