/** The wire shapes of Fly's Machines API, built from hangar's records (see shared/spec/COMPAT.md). */
import type { IpAssignment } from '../control/ip-assignments.ts';
import type { HostStatus } from '../control/host-health.ts';
import type { CheckReport } from '../domain/ports.ts';
import type { Lease } from '../domain/lease.ts';
import type { App, MachineEvent, MachineRecord, MachineVersion } from '../domain/machine.ts';
import type { AppWithCounts } from '../store/store.ts';
import type { VolumeRecord, VolumeSnapshotRecord } from '../domain/volume.ts';

import type { MachineConfigInput } from '../domain/config-schema.ts';
import type { LeaseJson, MachineEventJson, MachineJson, MachineVersionJson } from './responses.ts';

const iso = (ms: number) => new Date(ms).toISOString();

export interface MachineJsonOptions {
  /** The lease nonce, shown only in the answer to a create with `lease_ttl`. */
  nonce?: string;
  summary?: boolean;
  includeLease?: boolean;
  now?: number;
  /** The machine's health check results. */
  checks?: CheckReport[];
  /** How its host is (default ok). */
  hostStatus?: HostStatus;
}

export function machineJson(machine: MachineRecord, events: MachineEvent[], options: MachineJsonOptions = {}): MachineJson {
  const json: MachineJson = {
    id: machine.id,
    name: machine.name,
    state: machine.state,
    region: machine.region,
    instance_id: machine.version,
    version: machine.version,
    private_ip: machine.privateIp,
    image_ref: machine.imageRef,
    created_at: iso(machine.createdAt),
    updated_at: iso(machine.updatedAt),
    cordoned: machine.cordoned,
    host_status: options.hostStatus ?? 'ok',
  };
  if (machine.hostId !== undefined) json.host_id = machine.hostId;
  if (machine.privateIpv4 !== undefined) json.private_ipv4 = machine.privateIpv4;
  if (!options.summary) {
    json.config = machine.configProblem === undefined ? machine.config : decodableConfig(machine.config);
    json.events = events.map(eventJson);
    json.checks = (options.checks ?? []).map((check) => ({ name: check.name, status: check.status, output: check.output, updated_at: iso(check.updatedAt) }));
  }
  if (options.nonce) json.nonce = options.nonce;
  if (options.includeLease && machine.lease && machine.lease.expiresAt > (options.now ?? 0)) {
    json.lease = { owner: machine.lease.owner, description: machine.lease.description, expires_at: Math.floor(machine.lease.expiresAt / 1000) };
  }
  return json;
}

/**
 * What is shown of a stored config that no longer passes the config rules: its
 * image, if it is a string, and nothing a Fly client could fail to decode. The
 * machine's `config` event says what is wrong.
 */
function decodableConfig(config: unknown): MachineConfigInput {
  const image = (config as { image?: unknown } | null)?.image;
  return { image: typeof image === 'string' ? image : '', init: {} };
}

export function eventJson(event: MachineEvent): MachineEventJson {
  return { id: event.id, type: event.type, status: event.status, source: event.source, timestamp: event.timestamp, request: event.request };
}

export function versionJson(version: MachineVersion): MachineVersionJson {
  return { version: version.version, user_config: version.config };
}

/** A lease as Fly wraps it; `version` is the machine's current version (instance_id). */
export function leaseJson({ lease, version }: { lease: Lease; version: string }): LeaseJson {
  return {
    status: 'success',
    data: { nonce: lease.nonce, expires_at: Math.floor(lease.expiresAt / 1000), owner: lease.owner, description: lease.description, version },
  };
}

export function appJson(app: AppWithCounts): Record<string, unknown> {
  return {
    id: app.id,
    name: app.name,
    status: app.machineCount > 0 ? 'deployed' : 'pending',
    machine_count: app.machineCount,
    ...(app.machineStates ? { machine_states: app.machineStates } : {}),
    volume_count: 0,
    network: app.network,
    internal_numeric_id: app.netNumber,
    organization: { name: app.orgSlug, slug: app.orgSlug },
  };
}

export function createdAppJson(app: App): Record<string, unknown> {
  return { id: app.id, name: app.name, created_at: app.createdAt };
}

export function volumeJson(volume: VolumeRecord, hostStatus: HostStatus = 'ok'): Record<string, unknown> {
  return {
    id: volume.id,
    name: volume.name,
    state: volume.state,
    size_gb: volume.sizeGb,
    region: volume.region,
    zone: volume.hostId ?? 'local',
    type: 'local',
    fstype: 'ext4',
    encrypted: volume.encrypted,
    auto_backup_enabled: volume.autoBackupEnabled,
    snapshot_retention: volume.snapshotRetention,
    host_status: hostStatus,
    ...(volume.hostId ? { host_id: volume.hostId } : {}),
    created_at: iso(volume.createdAt),
    ...(volume.attachedMachineId ? { attached_machine_id: volume.attachedMachineId, attached_alloc_id: volume.attachedMachineId } : {}),
  };
}

const GB = 1024 ** 3;

/**
 * fly-go's VolumeSnapshot: sizes in bytes (what the copy holds on disk, and the
 * volume's size); `digest` is empty, as hangar does not read a whole copy to hash it.
 */
export function snapshotJson(snapshot: VolumeSnapshotRecord, volume: VolumeRecord): Record<string, unknown> {
  return {
    id: snapshot.id,
    size: snapshot.storedBytes,
    volume_size: snapshot.volumeSizeGb * GB,
    digest: '',
    created_at: iso(snapshot.createdAt),
    status: 'created',
    retention_days: volume.snapshotRetention,
  };
}

/**
 * A region as fly-go's fly.Region reads it, saying only what one host knows: no
 * coordinates or geography (omitted rather than made up), no WireGuard gateway,
 * no managed Postgres.
 */
export function regionJson(code: string): Record<string, unknown> {
  return { code, name: code, gateway_available: false, requires_paid_plan: false, deprecated: false, mpg_available: false };
}

/** fly-go's flaps.IPAssignment; hangar's addresses are the edge proxy's, shared by every app. */
export function ipAssignmentJson(assignment: IpAssignment): Record<string, unknown> {
  return { ip: assignment.ip, region: assignment.region, service_name: '', shared: assignment.shared, created_at: iso(assignment.createdAt) };
}
