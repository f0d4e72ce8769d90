/**
 * Records a host's check results in the cluster's database, so that every replica
 * shows the same. Only the latest results of each machine are kept to be written:
 * a write that fails (the database is out of reach) is tried again with whatever
 * is latest by then, and results superseded meanwhile are never written. One the
 * database refuses (its machine is gone) is dropped.
 */
import type { Logger } from 'pino';
import type { CheckRecords, CheckReport } from '../domain/ports.ts';
import { databaseUnreachable } from './unreachable.ts';

const RETRY_MS = 1_000;

export class CheckPublisher {
  private readonly records: Pick<CheckRecords, 'putChecks'>;
  private readonly log: Logger;
  private readonly pending = new Map<string, readonly CheckReport[]>();
  private writing: Promise<void> | undefined;
  private failing = false;
  private closed = false;

  constructor(records: Pick<CheckRecords, 'putChecks'>, log: Logger) {
    this.records = records;
    this.log = log;
  }

  publish(machineId: string, results: readonly CheckReport[]): void {
    if (this.closed) return;
    this.pending.set(machineId, results);
    this.writing ??= this.drain().finally(() => { this.writing = undefined; });
  }

  /** Resolves once everything published has been written, or given up on at close. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
  }

  private async drain(): Promise<void> {
    for (const [machineId, results] of this.pending) {
      if (this.closed) return;
      this.pending.delete(machineId);
      try {
        await this.records.putChecks(machineId, results);
        if (this.failing) this.log.info('health check results are recorded again');
        this.failing = false;
      } catch (error) {
        if (!databaseUnreachable(error)) {
          this.log.warn({ err: error, machineId }, 'health check results refused by the database; dropped');
          continue;
        }
        if (!this.pending.has(machineId)) this.pending.set(machineId, results);
        if (!this.failing) this.log.warn({ err: error, machineId }, 'could not record health check results; trying again');
        this.failing = true;
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
      }
    }
  }
}
