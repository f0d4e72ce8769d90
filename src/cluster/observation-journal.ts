/**
 * A host agent's local journal of what happened to its machines while the
 * database could not be reached. Machines keep running without PostgreSQL; what
 * the agent observes meanwhile (exits, suspends and resumes that completed) is
 * appended to a file in the data directory, fsynced, and reported in order once
 * the database answers again. While anything is journaled, new observations queue
 * behind it, so a machine's history is never reported out of order.
 *
 * Reporting does not rewrite the journal: a count of the entries reported so far is
 * kept beside it (`<journal>.reported`, fsynced after each), so a crash midway
 * reports none twice. At start the journal is written again with only what is left,
 * which also drops a line torn by a crash mid-append.
 */
import { appendFileSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Observation } from '../domain/lifecycle/observations.ts';
import type { ObservationSink } from '../domain/runtime.ts';
import { databaseUnreachable } from './unreachable.ts';

interface Entry {
  machineId: string;
  observation: Observation;
}

/** How often a journal that could not be reported is tried again. */
const RETRY_MS = 1_000;
/** Attempts at one entry before it is dropped: an hour of trying, once a second. */
const MAX_ATTEMPTS = 3_600;

export class JournaledSink implements ObservationSink {
  private readonly inner: ObservationSink;
  private readonly path: string;
  private readonly log: Logger;
  private entries: Entry[];
  /** Entries at the head of the journal file already reported. */
  private reported = 0;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly refused: (error: unknown) => boolean;
  /** Failed attempts at the entry at the head of the journal. */
  private attempts = 0;

  /**
   * `refused` tells a refusal that reporting again would not cure (the machine is
   * gone, the report makes no sense now) from any other error, which is journaled
   * and tried again.
   */
  constructor(inner: ObservationSink, path: string, log: Logger, refused: (error: unknown) => boolean) {
    this.inner = inner;
    this.refused = refused;
    this.path = path;
    this.log = log;
    this.entries = readJournal(path, log).slice(readCount(this.countPath));
    this.compact();
  }

  private get countPath(): string {
    return `${this.path}.reported`;
  }

  /** Observations journaled and not yet reported. */
  pending(): number {
    return this.entries.length;
  }

  async observe(machineId: string, observation: Observation): Promise<void> {
    if (this.entries.length === 0) {
      try {
        await this.inner.observe(machineId, observation);
        return;
      } catch (error) {
        if (this.refused(error)) throw error;
        this.log.warn({ machineId, err: error }, 'the report could not be written: journaling what happened to the machine');
      }
    }
    this.append({ machineId, observation });
    this.schedule();
  }

  /** Reports what is journaled, in order, until the journal is empty or the database is out of reach. */
  flush(): Promise<void> {
    this.flushing ??= this.report().finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  close(): void {
    clearTimeout(this.timer);
  }

  private async report(): Promise<void> {
    while (this.entries.length > 0) {
      const [entry] = this.entries as [Entry];
      try {
        await this.inner.observe(entry.machineId, entry.observation);
      } catch (error) {
        // The database out of reach is waited for; another error that never clears would hold every report behind it: given up on at last.
        if (!this.refused(error) && (databaseUnreachable(error) || ++this.attempts < MAX_ATTEMPTS)) {
          this.schedule();
          return;
        }
        this.log.error({ machineId: entry.machineId, err: error, attempts: this.attempts }, 'a journaled observation was refused; dropping it');
      }
      this.attempts = 0;
      this.entries = this.entries.slice(1);
      this.reported++;
      if (this.entries.length > 0) writeDurably(this.countPath, String(this.reported));
      else this.compact();
    }
    this.log.info('the journal is reported: the database knows everything that happened');
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, RETRY_MS);
    this.timer.unref();
  }

  private append(entry: Entry): void {
    this.entries.push(entry);
    const fd = openSync(this.path, 'a');
    try {
      appendFileSync(fd, `${JSON.stringify(entry)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Writes the journal again with only the entries left (none: no file), and starts the count again. */
  private compact(): void {
    if (this.entries.length === 0) rmSync(this.path, { force: true });
    else writeDurably(this.path, this.entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
    rmSync(this.countPath, { force: true });
    this.reported = 0;
  }
}

/** Replaces the file's content with `text`, on disk before this returns. */
function writeDurably(path: string, text: string): void {
  const partial = `${path}.partial`;
  writeFileSync(partial, text);
  const fd = openSync(partial, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(partial, path);
}

/** How many entries the count file says were reported (0 when there is none, or it is not a count). */
function readCount(path: string): number {
  try {
    const count = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(count) && count > 0 ? count : 0;
  } catch {
    return 0;
  }
}

/** The journal's entries; a torn last line (a crash mid-append) and lines that are not entries are skipped. */
function readJournal(path: string, log: Logger): Entry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const entries: Entry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as Partial<Entry>;
      if (typeof entry.machineId === 'string' && typeof entry.observation?.kind === 'string') entries.push(entry as Entry);
    } catch {
      log.warn({ path }, 'skipped a torn line of the observation journal');
    }
  }
  return entries;
}
