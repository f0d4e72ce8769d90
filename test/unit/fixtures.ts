import type { DecisionContext } from '../../src/domain/lifecycle/decision.ts';
import type { MachineRecord } from '../../src/domain/machine.ts';
import { normalizeConfig } from '../../src/domain/config.ts';
import { parseImageRef } from '../../src/domain/image-ref.ts';

export function machineRecord(overrides: Partial<MachineRecord> = {}, config: Record<string, unknown> = {}): MachineRecord {
  const full = normalizeConfig({ image: 'registry.test/app:1', ...config });
  return {
    id: '0123456789abcd',
    appName: 'app',
    name: 'quiet-lake-0001',
    region: 'local',
    state: 'started',
    stateSince: 1000,
    desired: 'started',
    observed: { vm: 'running', at: 1000 },
    version: '01J00000000000000000000000',
    config: full,
    imageRef: parseImageRef(full.image),
    privateIp: 'fdaa:0:1:a7b:0:1:0:2',
    cordoned: false,
    hasSnapshot: false,
    restartCount: 0,
    restartTimes: [],
    lease: null,
    createdAt: 1000,
    updatedAt: 1000,
    rev: 1,
    ...overrides,
  };
}

/** A decision context at `now` whose ids count up. */
export function context(now = 10_000): DecisionContext {
  let n = 0;
  return { now, newId: () => `EV${String(++n).padStart(24, '0')}` };
}
