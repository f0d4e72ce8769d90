/**
 * The fake driver's pretend host (see fake-driver.ts): its VMs by machine, kept in a
 * ledger file that outlives a process when given one, as QEMU processes outlive a
 * restart of hangar.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { MachineSpec } from '../driver.ts';

export interface FakeVm {
  spec: MachineSpec;
  state: 'running' | 'suspended';
  pid: number;
  bootCount: number;
  limitMb: number;
  /** The VM does not run although it is there (as a QEMU paused on a disk error, or hung): why. */
  frozen?: string;
  /** Files `touch`ed in the guest's root filesystem since its cold boot. */
  files: Set<string>;
}

/** One line of a fake host's ledger: a machine's pretend VM as it became, at a time (unix ms), in a process. */
export interface FakeLedgerEntry {
  at: number;
  pid: number;
  machineId: string;
  vm: 'running' | 'suspended' | 'absent';
}

/**
 * The pretend VMs, by machine. With a ledger file, every change is appended to it
 * (one JSON line, O_APPEND), and a host opened on the same file starts with the
 * VMs the last process left: pretend VMs outlive a killed `hangar serve`, as QEMU
 * processes do, and tests can tell from the ledgers of every host whether any
 * machine ever had two VMs at once.
 */
export class FakeVms extends Map<string, FakeVm> {
  private readonly ledger: string | undefined;

  constructor(ledger?: string) {
    super();
    this.ledger = ledger;
    if (!ledger) return;
    const last = new Map<string, FakeVm>();
    for (const line of readLines(ledger)) {
      const entry = line as FakeLedgerEntry & { spec?: MachineSpec; bootCount?: number };
      if (entry.vm === 'absent' || !entry.spec) last.delete(entry.machineId);
      else last.set(entry.machineId, { spec: entry.spec, state: entry.vm, pid: 1, bootCount: entry.bootCount ?? 1, limitMb: entry.spec.config.guest.memory_mb, files: new Set() });
    }
    for (const [id, vm] of last) super.set(id, vm);
  }

  override set(machineId: string, vm: FakeVm): this {
    super.set(machineId, vm);
    this.note(machineId);
    return this;
  }

  override delete(machineId: string): boolean {
    const had = super.delete(machineId);
    if (had) this.note(machineId);
    return had;
  }

  /** Writes the machine's VM as it is now to the ledger. */
  note(machineId: string): void {
    if (!this.ledger) return;
    const vm = super.get(machineId);
    // Secrets stay in memory, as a real VM's do: a fake opened again has none.
    const entry = { at: Date.now(), pid: process.pid, machineId, vm: vm?.state ?? 'absent', ...(vm ? { spec: { ...vm.spec, secrets: undefined }, bootCount: vm.bootCount } : {}) };
    appendFileSync(this.ledger, `${JSON.stringify(entry)}\n`);
  }
}

function readLines(path: string): unknown[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').flatMap((line) => {
    try {
      return line ? [JSON.parse(line) as unknown] : [];
    } catch {
      return [];
    }
  });
}

/** What the fake's pretend host holds: it outlives a driver, as VMs outlive a restart of hangar. */
export class FakeHost {
  readonly vms: FakeVms;

  /** Where snapshots packed for a move are written: beside the ledger, else in a temporary directory. */
  readonly parcelsDir: string;

  /** `ledger`: a file that keeps the pretend VMs across processes (see FakeVms). */
  constructor(ledger?: string) {
    this.vms = new FakeVms(ledger);
    this.parcelsDir = ledger ? join(dirname(ledger), 'fake-parcels') : join(tmpdir(), 'hangar-fake-parcels');
  }

  /** Machines with prepared state (the qemu driver's machine directory): made by prepare, removed by destroy. */
  readonly prepared = new Set<string>();
  readonly consoles = new Map<string, string[]>();
  /** Image references the pretend registry does not have. */
  readonly missingImages = new Set<string>();
  nextPid = 100;
}
