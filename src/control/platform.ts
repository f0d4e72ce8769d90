/** `/v1/platform`: the regions this hangar serves, and placements (all on this host). */
import { totalmem } from 'node:os';
import { invalid } from '../domain/errors.ts';
import { placementCount, resolveRegions, servedRegions } from '../domain/placement.ts';
import { hostIsFresh, type HostRecord, servesRegion } from '../domain/host.ts';
import { type DiskSpace, given, spaceMargin } from '../domain/volume.ts';
import type { ControlDeps } from './ports.ts';

export async function listRegions(deps: ControlDeps): Promise<{ regions: string[]; nearest: string }> {
  const nearest = deps.settings.defaultRegion;
  // Hosts serving one region each (a cluster) serve their regions whether or not a machine is there yet.
  const hostRegions = (await deps.store.listHostUsage()).filter((usage) => !usage.host.anyRegion).map((usage) => usage.host.region);
  return { regions: servedRegions(nearest, [...hostRegions, ...await deps.store.listRegionsInUse()].sort()), nearest };
}

/** fly-go's flaps.GetPlacementsRequest (pointers arrive as null). */
export interface PlacementsInput {
  compute?: unknown;
  region?: unknown;
  count?: unknown;
  volume_name?: unknown;
  volume_size_bytes?: unknown;
  weights?: unknown;
  org_slug?: unknown;
}

export interface RegionPlacement {
  region: string;
  count: number;
}

/**
 * Where machines would go: every one on this host, in the first region of the
 * request's expression that hangar serves. Weights and the org change nothing here.
 */
export async function placeMachines(deps: ControlDeps, input: PlacementsInput): Promise<RegionPlacement[]> {
  const { regions } = await listRegions(deps);
  const [region] = resolveRegions(typeof input.region === 'string' ? input.region : '', regions, deps.settings.defaultRegion) as [string];
  const space = await regionSpace(deps, region);
  const count = placementCount({
    count: (given(input.count) as number | undefined) ?? 0,
    memoryMb: memoryOf(given(input.compute)),
    volumeBytes: (given(input.volume_size_bytes) as number | undefined) ?? 0,
  }, { memoryBytes: totalmem(), volumeBytes: space.freeBytes - spaceMargin(space.totalBytes) });
  return [{ region, count }];
}

/**
 * Free and total disk for volumes in the region: this process's own disk, or in a
 * cluster the sum over the region's fresh hosts (a host that cannot be reached counts as full).
 */
async function regionSpace(deps: ControlDeps, region: string): Promise<DiskSpace> {
  if (deps.settings.hostId !== '') return deps.volumes.on(deps.settings.hostId).space();
  const fresh = (host: HostRecord) => host.id === deps.settings.hostId || hostIsFresh(host, deps.settings.hostLostAfterMs);
  const hosts = (await deps.store.listHostUsage()).filter(({ host }) => servesRegion(host, region) && !host.cordoned && fresh(host));
  const spaces = await Promise.all(hosts.map(({ host }) => deps.volumes.on(host.id).space().catch(() => ({ freeBytes: 0, totalBytes: 0 }))));
  return spaces.reduce((sum, space) => ({ freeBytes: sum.freeBytes + space.freeBytes, totalBytes: sum.totalBytes + space.totalBytes }), { freeBytes: 0, totalBytes: 0 });
}

/** Memory of the compute asked for; Fly's default is a performance-1x (2048 MB). */
function memoryOf(compute: unknown): number {
  if (compute === undefined) return 2048;
  const guest = compute as { cpu_kind?: unknown; cpus?: unknown; memory_mb?: unknown };
  if (typeof guest.memory_mb === 'number' && guest.memory_mb > 0) return guest.memory_mb;
  const cpus = typeof guest.cpus === 'number' && guest.cpus > 0 ? guest.cpus : 1;
  if (guest.cpu_kind !== undefined && guest.cpu_kind !== 'shared' && guest.cpu_kind !== 'performance') {
    throw invalid('compute.cpu_kind must be "shared" or "performance"');
  }
  return cpus * (guest.cpu_kind === 'shared' ? 256 : 2048);
}
