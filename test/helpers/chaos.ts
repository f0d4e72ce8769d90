/**
 * What the chaos test (test/cluster/chaos.test.ts) decides with, kept pure so it
 * can be read and tested apart from the processes: a seeded source of choices,
 * the history of what the workload asked and was answered, and the checks of its
 * invariants against that history and the fake hosts' ledgers.
 */
import type { FakeLedgerEntry } from '../../src/vmm/fake/fake-driver.ts';

/** Seeded choices (mulberry32): the same seed gives the same sequence. */
export interface Random {
  /** In [0, 1). */
  next(): number;
  /** A whole number in [0, n). */
  int(n: number): number;
  between(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
  /** An independent stream derived from this seed and `label`, so one part's choices do not shift another's. */
  fork(label: string): Random;
}

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const random: Random = {
    next,
    int: (n) => Math.floor(next() * n),
    between: (min, max) => min + next() * (max - min),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)] as never,
    shuffle: (items) => {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [copy[i], copy[j]] = [copy[j] as never, copy[i] as never];
      }
      return copy;
    },
    fork: (label) => {
      let hash = seed >>> 0;
      for (const char of label) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
      return seededRandom(hash);
    },
  };
  return random;
}

/**
 * What came of a request: `acked` (2xx: the change is promised), `refused` (it
 * certainly changed nothing: a 4xx, a 503 host_unreachable, no connection), or
 * `unknown` (a 5xx, a connection broken mid-request, no answer in time).
 */
export type Outcome = 'acked' | 'refused' | 'unknown';

export type OpKind = 'create' | 'start' | 'stop' | 'suspend' | 'restart' | 'update' | 'destroy';

/** One change asked of one machine. */
export interface Op {
  kind: OpKind;
  outcome: Outcome;
  /** Raced with another change of the same machine: their order is not known. */
  concurrent?: boolean;
  /** The version an acknowledged update (or create) answered. */
  version?: string;
}

/** The state each acknowledged change leads a machine to, once its host has done it (restart policy `no`). */
const SETTLES_TO: Record<OpKind, string> = {
  create: 'started', start: 'started', stop: 'stopped', suspend: 'suspended', restart: 'started', update: 'started', destroy: 'destroyed',
};

/**
 * The state the machine must settle in given what was asked of it, in order:
 * that of the last acknowledged change, unless a change after it may or may not
 * have happened (`unknown`), or changes raced. Undefined when nothing says.
 */
export function expectedState(ops: readonly Op[]): string | undefined {
  let expected: string | undefined;
  for (const op of ops) {
    if (op.outcome === 'refused') continue;
    expected = op.outcome === 'acked' && !op.concurrent ? SETTLES_TO[op.kind] : undefined;
    // Nothing undoes a destroy: whatever came after was refused or moot.
    if (op.outcome === 'acked' && op.kind === 'destroy') return 'destroyed';
  }
  return expected;
}

/** A machine that had a VM on two hosts at once: when, and where. */
export interface DoubleVm {
  machineId: string;
  at: number;
  hosts: string[];
}

/**
 * Every moment a machine had a VM (running or suspended) on more than one host,
 * from the hosts' ledgers. A host's pretend VMs outlive its process, so a machine's
 * VM there is what the last line of the ledger says, whichever process wrote it,
 * until a later line says otherwise.
 */
export function doubleVms(ledgers: ReadonlyMap<string, readonly FakeLedgerEntry[]>): DoubleVm[] {
  const lines = [...ledgers].flatMap(([host, entries]) => entries.map((entry, order) => ({ host, order, entry })));
  lines.sort((a, b) => a.entry.at - b.entry.at || a.order - b.order);
  const where = new Map<string, Map<string, string>>();
  const found: DoubleVm[] = [];
  for (const { host, entry } of lines) {
    const hosts = where.get(entry.machineId) ?? new Map<string, string>();
    where.set(entry.machineId, hosts);
    if (entry.vm === 'absent') hosts.delete(host);
    else hosts.set(host, entry.vm);
    if (hosts.size > 1) found.push({ machineId: entry.machineId, at: entry.at, hosts: [...hosts.keys()] });
  }
  return found;
}

/** Each machine's VM on a host as its ledger last says (absent ones left out). */
export function vmsNow(entries: readonly FakeLedgerEntry[]): Map<string, 'running' | 'suspended'> {
  const now = new Map<string, 'running' | 'suspended'>();
  for (const entry of entries) {
    if (entry.vm === 'absent') now.delete(entry.machineId);
    else now.set(entry.machineId, entry.vm);
  }
  return now;
}

/** The VM a machine in `state` has on its host once everything settled, or undefined when either will do. */
export function vmOfState(state: string): 'running' | 'suspended' | 'absent' | undefined {
  switch (state) {
    case 'started': return 'running';
    case 'suspended': return 'suspended';
    case 'created': case 'stopped': case 'failed': case 'destroyed': return 'absent';
    default: return undefined;
  }
}
