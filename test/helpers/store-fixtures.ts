/** What the Store contract's tests are made of: the store under test and small records. */
import type { MachineEvent, MachineRecord, MachineVersion } from '../../src/domain/machine.ts';
import type { VolumeRecord } from '../../src/domain/volume.ts';
import type { Store } from '../../src/store/store.ts';
import { machineRecord } from '../unit/fixtures.ts';

export interface StoreUnderTest {
  store: Store;
  /** Another store on the same database. */
  reopen(): Promise<Store>;
  /** Writes raw text into a machine's row, as a hand edit or a broken disk could leave it. */
  spoil(machineId: string, doc: string, recentEvents?: string): Promise<void>;
  /** Writes raw text into the `doc` of the rows of `table` whose columns hold `where`'s values. */
  spoilDoc(table: SpoiledTable, where: Record<string, string>, doc: string): Promise<void>;
}

export type SpoiledTable = 'volumes' | 'volume_snapshots' | 'machine_versions' | 'machine_events' | 'app_releases';

export type OpenStore = () => Promise<StoreUnderTest>;

export const app = (name: string, orgSlug = 'personal') => ({ id: `id-${name}`, name, orgSlug, network: 'default', createdAt: 1000 });

export function machine(overrides: Partial<MachineRecord> = {}, config: Record<string, unknown> = {}): MachineRecord {
  const id = overrides.id ?? 'm-1';
  return machineRecord({ appName: 'app', id, name: `name-${id}`, state: 'stopped', ...overrides }, config);
}

export const versionOf = (m: MachineRecord, version = m.version): MachineVersion =>
  ({ machineId: m.id, version, config: m.config, imageRef: m.imageRef, createdAt: m.createdAt });

export const event = (machineId: string, n: number): MachineEvent =>
  ({ id: `${machineId}-EV${String(n).padStart(6, '0')}`, machineId, type: 'start', status: 'started', source: 'user', timestamp: n, request: { n } });

/** Inserts a machine (rev 1) with its first version. */
export async function insert(store: Store, m: MachineRecord, events: MachineEvent[] = [], maxLive?: number): Promise<MachineRecord> {
  return store.insertMachine({ machine: m, version: versionOf(m), events }, maxLive);
}

/** Moves a stored machine to `state`. */
export async function moveTo(store: Store, m: MachineRecord, state: MachineRecord['state']): Promise<MachineRecord> {
  return store.commit({ machine: { ...m, state }, events: [] });
}

export function volume(id: string): VolumeRecord {
  return {
    id, appName: 'app', name: 'data', region: 'ams', sizeGb: 1, state: 'created', attachedMachineId: null,
    encrypted: true, autoBackupEnabled: false, snapshotRetention: 5, createdAt: 1000,
  };
}
