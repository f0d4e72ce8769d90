/**
 * Rendered machine JSON, cached per (machine, rev). A machine's wire form changes
 * only when its record does, and every change bumps `rev`; so a listing re-renders
 * just the machines that changed and joins the rest as ready strings.
 */
import type { MachineListing } from '../store/store.ts';
import { machineJson } from './present.ts';

interface Entry {
  rev: number;
  full: string;
  summary: string;
}

/** Entries past this are dropped wholesale; they are rebuilt on the next listing. */
const MAX_ENTRIES = 100_000;

export class RenderCache {
  private readonly entries = new Map<string, Entry>();

  /** Ids whose cached rendering is missing or stale. */
  misses(heads: Array<{ id: string; rev: number }>): string[] {
    return heads.filter((head) => this.entries.get(head.id)?.rev !== head.rev).map((head) => head.id);
  }

  add(listings: MachineListing[]): void {
    if (this.entries.size + listings.length > MAX_ENTRIES) this.entries.clear();
    for (const { machine, events } of listings) {
      this.entries.set(machine.id, {
        rev: machine.rev,
        full: JSON.stringify(machineJson(machine, events)),
        summary: JSON.stringify(machineJson(machine, events, { summary: true })),
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
