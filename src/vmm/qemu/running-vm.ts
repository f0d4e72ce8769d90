/**
 * A machine's QEMU while hangar holds it: the process, its two channels (QMP and
 * the guest agent), and what QEMU has said of it. What the VM really is comes
 * from QEMU (`query-status`, `query-migrate`, its events), never from a process
 * merely being there.
 */
import { errorMessage } from '../../domain/errors.ts';
import type { AgentChannel, GuestExit } from './agent-channel.ts';
import type { QmpClient, QmpEvent } from './qmp.ts';
import type { VmLayout } from './argv.ts';
import type { Launched } from './vm-plan.ts';

/**
 * What hangar is doing with a VM, as one value:
 *
 *   launching ──> running ──> stopping ──> ended
 *                  │   ▲
 *                  ▼   │ (the save failed or a start cancelled it: the VM runs on)
 *               suspending ──> ended
 *
 * Any phase may go to `ended`: the guest exits, QEMU dies, hangar kills the VM or
 * lets go of it. A VM hangar finds at its start (recovery) is `running` at once.
 */
export type VmPhase =
  /** A boot or resume is under way: it checks the outcome itself. */
  | { is: 'launching' }
  | { is: 'running' }
  /** hangar itself is stopping the machine: the exit goes to the stopper. */
  | { is: 'stopping'; stopped: (exit: GuestExit | null) => void }
  /** A suspend runs: QEMU ending is its outcome, not an exit. A start may cancel it. */
  | { is: 'suspending'; cancelled: boolean }
  /**
   * Gone, or going: nothing may use it. `launchReports`: it ended while a launch was
   * under way, which reports the failure itself (unless that launch went on to succeed).
   */
  | { is: 'ended'; launchReports: boolean };

/** A running machine: its QEMU process and the two channels into it. */
export interface Vm {
  pid: number;
  agent: AgentChannel;
  qmp: QmpClient;
  launched: Launched;
  /** The layout QEMU was started with (a standby for its resume is started with the same). */
  layout?: VmLayout;
  /** What hangar is doing with it. */
  phase: VmPhase;
  /** The VM paused on a disk error (QEMU's BLOCK_IO_ERROR with action stop): what QEMU said. */
  ioError?: string;
  /** Told when the VM pauses on a disk error. */
  ioErrorWaiters: Set<(reason: string) => void>;
  /** The reason of QEMU's SHUTDOWN event, once it came. */
  shutdown?: string;
}

/** Whether the VM ended or hangar let go of it (asked anew: it may have ended during an await). */
export function hasEnded(vm: Vm): boolean {
  return vm.phase.is === 'ended';
}

/** Whether the VM ended while a launch was under way that reports the failure itself. */
export function launchReportsEnd(vm: Vm): boolean {
  return vm.phase.is === 'ended' && vm.phase.launchReports;
}

/** The VM ends, or hangar lets go of it: nothing may use it any more. A launch under way still reports it. */
export function markEnded(vm: Vm): void {
  vm.phase = { is: 'ended', launchReports: vm.phase.is === 'launching' || launchReportsEnd(vm) };
}

/** A launch succeeded: the VM runs, or, had it ended meanwhile, its end is reported as any other. */
export function launchDone(vm: Vm): void {
  if (vm.phase.is === 'launching') vm.phase = { is: 'running' };
  else if (vm.phase.is === 'ended') vm.phase = { is: 'ended', launchReports: false };
}

/** Follows the QMP events that say what became of the VM. */
export function watchQmpEvents(vm: Vm, onIoError: (reason: string) => void): void {
  vm.qmp.on('event', (event: QmpEvent) => {
    if (event.event === 'SHUTDOWN') vm.shutdown = String(event.data?.reason ?? 'unknown');
    if (event.event === 'BLOCK_IO_ERROR' && event.data?.action === 'stop' && vm.ioError === undefined) {
      const data = event.data;
      const disk = String(data.device || data['node-name'] || 'a disk');
      vm.ioError = `${String(data.reason ?? 'I/O error')} on ${disk}${data.nospace ? ' (no space left on the host\'s disk)' : ''}`;
      for (const waiter of vm.ioErrorWaiters) waiter(vm.ioError);
      onIoError(vm.ioError);
    }
  });
}

/** `work`, unless the VM pauses on a disk error first (then it would never answer). */
export async function unlessIoError<T>(vm: Vm, what: string, work: Promise<T>): Promise<T> {
  let waiter: ((reason: string) => void) | undefined;
  const paused = new Promise<never>((_, reject) => {
    waiter = (reason) => reject(new Error(`the VM paused on an I/O error ${what}: ${reason}`));
    if (vm.ioError !== undefined) waiter(vm.ioError);
    vm.ioErrorWaiters.add(waiter);
  });
  paused.catch(() => undefined);
  try {
    return await Promise.race([work, paused]);
  } finally {
    if (waiter) vm.ioErrorWaiters.delete(waiter);
  }
}

export interface VmStatus {
  /** query-status's `status`: running, paused, postmigrate, inmigrate, io-error, … */
  status: string;
  running: boolean;
  /** query-migrate's `status`, if a migration ran in this QEMU. */
  migration?: string;
}

export async function vmStatus(vm: Vm, timeoutMs = 5000): Promise<VmStatus> {
  const status = await vm.qmp.execute('query-status', {}, timeoutMs);
  const migration = await vm.qmp.execute('query-migrate', {}, timeoutMs);
  return { status: status.status, running: status.running, ...(migration.status ? { migration: migration.status } : {}) };
}

/**
 * Continues a VM hangar had paused, and checks that it runs. A migration still
 * under way (QEMU may not have seen its peer go) is cancelled first.
 */
export async function continueVm(vm: Vm): Promise<void> {
  let status = await vmStatus(vm);
  if (status.migration === 'active' || status.migration === 'setup' || status.migration === 'device') {
    await vm.qmp.execute('migrate_cancel', {});
    for (let i = 0; i < 500 && ['active', 'setup', 'device', 'cancelling'].includes(status.migration ?? ''); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      status = await vmStatus(vm);
    }
  }
  if (!status.running) await vm.qmp.execute('cont', {});
  const after = await vmStatus(vm);
  if (!after.running) throw new Error(`the VM did not run again: QEMU reports it ${after.status}${vm.ioError ? ` (${vm.ioError})` : ''}`);
}

/** Asks QEMU to quit (it may not answer: a hung or stopped QEMU is killed by pid after). */
export async function quitVm(vm: Vm, timeoutMs = 1000): Promise<void> {
  await vm.qmp.execute('quit', {}, timeoutMs).catch(() => undefined);
}

/** A reason never empty, whatever was thrown. */
export function reasonOf(error: unknown): string {
  return errorMessage(error) || (error instanceof Error ? error.name : '') || 'an error with no message';
}
