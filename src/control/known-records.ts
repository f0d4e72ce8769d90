/**
 * The records of its own machines a host agent's process last read or wrote. A
 * report of the agent is decided first on the record known here, and written only
 * if it is still the current one (a commit checks the record's revision); if not,
 * the record is read again and the report decided again, as after any stale read.
 * A report that follows the agent's own work (a prepare, a boot) thus needs no read:
 * the record was read when the work was checked.
 */
import type { MachineRecord } from '../domain/machine.ts';

export class KnownRecords {
  private readonly records = new Map<string, MachineRecord>();

  /** Keeps `machine` unless a newer revision of it is known; forgets a destroyed one. */
  remember(machine: MachineRecord): void {
    if (machine.state === 'destroyed') {
      this.records.delete(machine.id);
      return;
    }
    const known = this.records.get(machine.id);
    if (!known || known.rev <= machine.rev) this.records.set(machine.id, machine);
  }

  get(machineId: string): MachineRecord | undefined {
    return this.records.get(machineId);
  }

  forget(machineId: string): void {
    this.records.delete(machineId);
  }

  size(): number {
    return this.records.size;
  }
}
