/**
 * Rendered machine JSON, cached per (machine, rev). A machine's wire form changes
 * only when its record does, and every change bumps `rev`; so a listing re-renders
 * just the machines that changed and joins the rest as ready strings.
 */
import type { HostStatus } from '../control/host-health.ts';
import type { MachineListing } from '../store/store.ts';
import { machineJson } from './present.ts';

interface Entry {
  rev: number;
  hostId: string | undefined;
  /** What `host_status` says in the rendering: its host's health changes without a change of the machine. */
  hostStatus: HostStatus;
  full: string;
  summary: string;
}

/** Entries past this are dropped wholesale; they are rebuilt on the next listing. */
const MAX_ENTRIES = 100_000;

export class RenderCache {
  private readonly entries = new Map<string, Entry>();
  private readonly statusOf: (hostId: string | undefined) => HostStatus;

  constructor(statusOf: (hostId: string | undefined) => HostStatus) {
    this.statusOf = statusOf;
  }

  /** Ids whose cached rendering is missing or stale. */
  misses(heads: Array<{ id: string; rev: number }>): string[] {
    return heads.filter((head) => {
      const entry = this.entries.get(head.id);
      return entry?.rev !== head.rev || entry.hostStatus !== this.statusOf(entry.hostId);
    }).map((head) => head.id);
  }

  add(listings: MachineListing[]): void {
    if (this.entries.size + listings.length > MAX_ENTRIES) this.entries.clear();
    for (const { machine, events } of listings) {
      const hostStatus = this.statusOf(machine.hostId);
      this.entries.set(machine.id, {
        rev: machine.rev,
        hostId: machine.hostId,
        hostStatus,
        full: JSON.stringify(machineJson(machine, events, { hostStatus })),
        summary: JSON.stringify(machineJson(machine, events, { summary: true, hostStatus })),
      });
    }
  }

  /** The JSON array of these machines, in order; an id with nothing cached (its row holds no machine) is left out. */
  join(heads: Array<{ id: string }>, summary: boolean): string {
    return `[${heads.flatMap((head) => {
      const entry = this.entries.get(head.id);
      if (!entry) return [];
      return [summary ? entry.summary : entry.full];
    }).join(',')}]`;
  }
}
