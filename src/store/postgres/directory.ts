/**
 * Every host's machines for the private DNS and the edge proxy, in PostgreSQL: read through functions
 * a host may call though it may not read other hosts' machines, in the commit order
 * (see changes.ts). A row's fields are checked as they come, since a host writes
 * its own machines' rows: one that is not what a machine's would be is left out, and
 * so is an address outside its app's /48 and its host's /64 (a host that claimed
 * another app's address would get that app's traffic, through every host's routes
 * and DNS). A destroyed machine still takes itself out of the table.
 */
import { isIP } from 'node:net';
import { ipv6Groups } from '../../domain/address.ts';
import type { Pool } from 'pg';
import { type MachineConfig, normalizeConfig } from '../../domain/config.ts';
import type { AppOrg, DirectoryMachine, DirectoryRouting, MachineDirectory } from '../../domain/ports.ts';
import { readHorizon } from './changes.ts';
import { rows } from './connection.ts';

interface Row {
  id: string | null;
  app_name: string;
  region: string;
  host_id: string | null;
  state: string;
  private_ip: string | null;
  skip: boolean;
  process_group: string | null;
  horizon: string;
  net_number: number | null;
  host_number: number | null;
  cordoned: boolean;
  created_at: string | null;
  version: string | null;
  /** The routing part of the machine's config, as JSON text. */
  routing: string | null;
  kept: boolean | null;
}

const MACHINE_ID = /^[0-9a-f]{14}$/;
/** Routing texts whose configs are kept (see PostgresDirectory.configs). */
const KEPT_CONFIGS = 1_000;
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export class PostgresDirectory implements MachineDirectory {
  private readonly pool: Pool;
  /**
   * What each routing text read lately made (a config, or undefined for one that does
   * not pass the rules): the same text, of the same machine read again or of another
   * machine of the app, is not parsed and checked again. The least recently read go first.
   */
  private readonly configs = new Map<string, MachineConfig | undefined>();

  constructor(pool: Pool) {
    this.pool = pool;
  }

  horizon(): Promise<string> {
    return readHorizon(this.pool);
  }

  async since(from?: string): Promise<{ items: DirectoryMachine[]; horizon: string }> {
    const found = await rows<Row>(this.pool, 'SELECT * FROM hangar_directory_since($1::xid8)', [from ?? null]);
    const items = found.flatMap((row) => directoryMachine(row, (text) => this.configOf(text)) ?? []);
    return { items, horizon: found[0]?.horizon ?? from ?? '0' };
  }

  /** The config a routing text gives, undefined for one that does not pass the rules (a host wrote it). */
  private configOf(text: string | null): MachineConfig | undefined {
    const key = text ?? '';
    if (this.configs.has(key)) {
      const known = this.configs.get(key);
      this.configs.delete(key);
      this.configs.set(key, known);
      return known;
    }
    let config: MachineConfig | undefined;
    try {
      config = normalizeConfig(JSON.parse(key));
    } catch {
      config = undefined;
    }
    this.configs.set(key, config);
    if (this.configs.size > KEPT_CONFIGS) this.configs.delete(this.configs.keys().next().value as string);
    return config;
  }

  async lostHosts(): Promise<string[]> {
    return (await rows<{ id: string }>(this.pool, "SELECT id FROM hangar_host_states() WHERE state <> 'active'")).map((row) => row.id);
  }

  async apps(): Promise<AppOrg[]> {
    return (await rows<{ name: string; org_slug: string }>(this.pool, 'SELECT name, org_slug FROM hangar_directory_apps()'))
      .map((row) => ({ name: row.name, orgSlug: row.org_slug }));
  }
}

function directoryMachine(row: Row, configOf: (text: string | null) => MachineConfig | undefined): DirectoryMachine | undefined {
  if (row.id === null || !MACHINE_ID.test(row.id) || row.host_id === null) return undefined;
  const gone = { id: row.id, appName: row.app_name, region: row.region, hostId: row.host_id, privateIp: '', state: 'destroyed', skipRegistration: true };
  if (row.state === 'destroyed') return gone;
  const standing = addressStanding(row);
  if (!NAME.test(row.app_name) || !NAME.test(row.region) || !NAME.test(row.state) || !standing) return undefined;
  return {
    id: row.id, appName: row.app_name, region: row.region, hostId: row.host_id, privateIp: row.private_ip as string, state: row.state, skipRegistration: row.skip,
    ...(row.process_group && NAME.test(row.process_group) ? { processGroup: row.process_group } : {}),
    routing: routingOf(row, configOf(row.routing)),
    ...(standing === 'moved' ? { movedAddress: true as const } : {}),
  };
}

/** What the proxy routes by; without a config (one that does not pass the rules) it routes nothing. */
function routingOf(row: Row, config: MachineConfig | undefined): DirectoryRouting {
  const createdAt = Number(row.created_at);
  return {
    cordoned: row.cordoned === true, createdAt: Number.isFinite(createdAt) ? createdAt : 0,
    version: typeof row.version === 'string' && row.version.length <= 64 ? row.version : '',
    ...(config ? { config } : {}),
  };
}

/**
 * Where the machine's address lies: in its own host's /64 of its app
 * (fdaa:0:<app>:<host>:…), or, for a machine moved here whose address the replica
 * that moved it recorded (`kept`), in another host's /64 of its app; else nowhere
 * it may be.
 */
function addressStanding(row: Row): 'own' | 'moved' | undefined {
  if (row.private_ip === null || isIP(row.private_ip) !== 6 || row.private_ip.includes('.') || row.net_number === null || row.host_number === null) return undefined;
  const groups = ipv6Groups(row.private_ip);
  if (groups[0] !== 0xfdaa || groups[1] !== 0 || groups[2] !== row.net_number) return undefined;
  if (groups[3] === row.host_number) return 'own';
  return row.kept === true ? 'moved' : undefined;
}
