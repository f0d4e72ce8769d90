/**
 * The machine record: what hangar knows of one machine. What the user asked for
 * (`desired`) is kept apart from what the host agent last reported (`observed`);
 * `state` is the lifecycle state, moved only through the transition table.
 */
import type { MachineConfig } from './config.ts';
import type { ImageRef } from './image-ref.ts';
import type { Lease } from './lease.ts';
import type { MachineState } from './states.ts';

/** What the user last asked the machine to be. */
export type DesiredState = 'created' | 'started' | 'stopped' | 'suspended' | 'destroyed';

/** What the host agent last reported about the machine's VM. */
export interface Observed {
  vm: 'absent' | 'running' | 'suspended' | 'exited';
  at: number;
  pid?: number;
  exitCode?: number;
  detail?: string;
}

export interface MachineRecord {
  id: string;
  appName: string;
  name: string;
  region: string;
  /** The host the machine is placed on (absent on records written before hosts existed). */
  hostId?: string;
  state: MachineState;
  /** When `state` was entered (unix ms): the basis of wedge detection. */
  stateSince: number;
  desired: DesiredState;
  observed: Observed;
  /** The current version (instance_id). */
  version: string;
  config: MachineConfig;
  imageRef: ImageRef;
  privateIp: string;
  /**
   * The IPv4 address allocated to it on its host, the lowest free one when it was
   * placed (see domain/ipv4.ts); absent on machines recorded before addresses were
   * allocated, which keep the one their machine number gives.
   */
  privateIpv4?: string;
  cordoned: boolean;
  /** A suspend snapshot exists and may be used once. */
  hasSnapshot: boolean;
  /** Automatic restarts since the last user start; `restartTimes` are those within the policy window. */
  restartCount: number;
  restartTimes: number[];
  /** The state a `skip_launch` update returns to when it is done. */
  settleTo?: MachineState;
  /**
   * While `replacing`: the version that still runs until the new one is prepared and
   * booted, put back if preparing the new one fails.
   */
  replacingFrom?: { version: string; config: MachineConfig; imageRef: ImageRef };
  lease: Lease | null;
  /**
   * Why the stored config cannot be used (it no longer passes the config rules):
   * such a machine is left alone until it is updated with a good config or destroyed.
   */
  configProblem?: string;
  /** The transient-state entry already flagged as wedged, so a flag is raised once. */
  wedgedAt?: number;
  createdAt: number;
  updatedAt: number;
  /** Bumped by every write: the store refuses a write based on a stale read. */
  rev: number;
}

export interface MachineVersion {
  machineId: string;
  version: string;
  config: MachineConfig;
  imageRef: ImageRef;
  createdAt: number;
}

export interface MachineEvent {
  id: string;
  machineId: string;
  type: string;
  status: string;
  source: 'user' | 'flyd';
  timestamp: number;
  request: Record<string, unknown>;
}

export interface App {
  id: string;
  name: string;
  orgSlug: string;
  network: string;
  /** Small number unique per app, used to build private addresses. */
  netNumber: number;
  createdAt: number;
  /** Being deleted: no machine or volume may be created in it any more. */
  deleting: boolean;
}
