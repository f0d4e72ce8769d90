/**
 * What one host can say about Fly's platform: the regions it serves (its default
 * region and every region a machine or volume was given; regions are labels on
 * one host) and where machines would be placed (all on this host).
 */
import { HangarError, invalid } from './errors.ts';

/** The regions served: the default first, then the others in use, each once. */
export function servedRegions(defaultRegion: string, inUse: readonly string[]): string[] {
  return [...new Set([defaultRegion, ...inUse])];
}

/**
 * The served regions a placement's region expression names, in its order. The
 * expression is a comma-separated list of region codes; `any` and an empty
 * expression mean the default region. Codes this hangar does not serve are
 * skipped, and an expression naming none it serves is refused.
 */
export function resolveRegions(expression: string, served: readonly string[], defaultRegion: string): string[] {
  const tokens = expression.split(',').map((token) => token.trim().toLowerCase()).filter((token) => token !== '');
  if (tokens.length === 0) return [defaultRegion];
  const regions = new Set<string>();
  for (const token of tokens) {
    if (token === 'any') regions.add(defaultRegion);
    else if (served.includes(token)) regions.add(token);
  }
  if (regions.size === 0) {
    throw invalid(`region ${tokens.map((t) => `"${t}"`).join(', ')} is not served by this hangar (it serves ${served.join(', ')})`,
      'a region is served once a machine or volume is created in it, or pass it to hangar serve --region');
  }
  return [...regions];
}

export interface PlacementAsk {
  /** Machines to place; 0 asks how many would fit. */
  count: number;
  /** Memory of each machine. */
  memoryMb: number;
  /** Size of each machine's volume; 0 for none. */
  volumeBytes: number;
}

export interface HostRoom {
  memoryBytes: number;
  /** Free disk for volumes, the margin already taken off. */
  volumeBytes: number;
}

/**
 * How many of the machines this host takes: as many as asked (hangar does not
 * limit machines by memory, which guests may overcommit), but no more volumes
 * than the disk holds at their full size; asked for 0, as many as fit in memory
 * and on disk. None at all is refused.
 */
export function placementCount(ask: PlacementAsk, room: HostRoom): number {
  const byDisk = ask.volumeBytes > 0 ? Math.floor(Math.max(room.volumeBytes, 0) / ask.volumeBytes) : Infinity;
  const count = ask.count > 0 ? Math.min(ask.count, byDisk) : Math.min(Math.floor(room.memoryBytes / (ask.memoryMb * 1024 ** 2)), byDisk);
  if (count >= 1) return count;
  if (ask.volumeBytes > 0 && byDisk < 1) {
    throw new HangarError('insufficient_space', `not enough disk space on this host for a ${(ask.volumeBytes / 1024 ** 3).toFixed(1)} GB volume`, 'free disk space on the host, or ask for a smaller volume');
  }
  throw invalid(`a machine with ${ask.memoryMb} MB of memory does not fit in this host's ${Math.floor(room.memoryBytes / 1024 ** 2)} MB`);
}
