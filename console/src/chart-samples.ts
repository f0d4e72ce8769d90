/** The samples the state chart draws (state-chart.tsx): counts of an app's machines by state at times. */
import type { WatchedMachine } from './types.ts';

export interface Sample { at: number; counts: Record<string, number> }

export const WINDOW_MS = 30 * 60_000;
const SEED_STEP_MS = 30_000;

/**
 * Samples of the last half hour from each machine's history: at each time, the state
 * its latest event by then entered. A machine whose known history begins later is
 * left out of the times before it (its state then is not known).
 */
export function seedSamples(machines: WatchedMachine[], now: number): Sample[] {
  const samples: Sample[] = [];
  for (let at = now - WINDOW_MS; at < now; at += SEED_STEP_MS) {
    const counts: Record<string, number> = {};
    for (const machine of machines) {
      const known = (machine.history ?? []).filter((entry) => entry.at <= at).sort((a, b) => b.at - a.at)[0];
      if (known && known.state !== 'destroyed') counts[known.state] = (counts[known.state] ?? 0) + 1;
    }
    if (Object.keys(counts).length > 0) samples.push({ at, counts });
  }
  return samples;
}

