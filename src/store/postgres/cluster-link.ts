/**
 * The cluster link on PostgreSQL: `LISTEN/NOTIFY` carries the hints that tie a
 * cluster's processes together: work queued for a host (the outbox, read through
 * the store), a machine that changed, a host whose state changed.
 * Notifications are hints only: work is also polled, and a change announced is read
 * back from the store. One connection of its own stays open for LISTEN and is
 * opened again if it breaks.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Pool } from 'pg';
import type { ClusterLink } from '../link.ts';
import { openPool, rows } from './connection.ts';
import { WORK_CHANNEL } from './host-work.ts';
import { HOST_CHANNEL } from './hosts.ts';

const WORK = WORK_CHANNEL;
const CHANGED = 'hangar_machine';
const HOSTS = HOST_CHANNEL;
const RECONNECT_MS = 1_000;

export class PostgresLink implements ClusterLink {
  private readonly pool: Pool;
  private readonly url: string;
  /** Tells this process's own announcements apart from the others'. */
  private readonly origin = randomUUID();
  private readonly workListeners = new Map<string, Array<() => void>>();
  private readonly changeListeners: Array<(machineId: string) => void> = [];
  private readonly missedListeners: Array<() => void> = [];
  private readonly hostListeners: Array<(hostId: string) => void> = [];
  private listener: pg.Client | undefined;
  private closed = false;

  private constructor(pool: Pool, url: string) {
    this.pool = pool;
    this.url = url;
  }

  static async open(url: string, onIdleError?: (error: Error) => void): Promise<PostgresLink> {
    const link = new PostgresLink(openPool({ url, size: 4, onIdleError }), url);
    try {
      await link.listen();
    } catch (error) {
      await link.pool.end();
      throw error;
    }
    return link;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'hangar-listen' });
    client.on('notification', (message) => this.notified(message.channel, message.payload ?? ''));
    client.on('error', () => this.relisten(client));
    client.on('end', () => this.relisten(client));
    await client.connect();
    await client.query(`LISTEN ${WORK}`);
    await client.query(`LISTEN ${CHANGED}`);
    await client.query(`LISTEN ${HOSTS}`);
    this.listener = client;
  }

  private relisten(broken: pg.Client): void {
    if (this.closed || this.listener !== broken) return;
    this.listener = undefined;
    broken.end().catch(() => undefined);
    const retry = () => {
      if (this.closed) return;
      this.listen().then(() => {
        // Hints may have been missed while the connection was down: every host drains,
        // and every change someone waits for is read again.
        for (const listeners of this.workListeners.values()) for (const listener of listeners) listener();
        for (const listener of this.missedListeners) listener();
      }, () => setTimeout(retry, RECONNECT_MS).unref());
    };
    setTimeout(retry, RECONNECT_MS).unref();
  }

  private notified(channel: string, payload: string): void {
    if (channel === WORK) {
      for (const listener of this.workListeners.get(payload) ?? []) listener();
      return;
    }
    if (channel === HOSTS) {
      for (const listener of this.hostListeners) listener(payload);
      return;
    }
    const [origin, machineId] = payload.split(':');
    if (channel === CHANGED && origin !== this.origin && machineId) {
      for (const listener of this.changeListeners) listener(machineId);
    }
  }

  onWork(hostId: string, listener: () => void): () => void {
    this.workListeners.set(hostId, [...(this.workListeners.get(hostId) ?? []), listener]);
    return () => this.workListeners.set(hostId, (this.workListeners.get(hostId) ?? []).filter((known) => known !== listener));
  }

  async announce(machineId: string): Promise<void> {
    await rows(this.pool, 'SELECT pg_notify($1, $2)', [CHANGED, `${this.origin}:${machineId}`]);
  }

  onMachineChanged(listener: (machineId: string) => void): void {
    this.changeListeners.push(listener);
  }

  onHostChanged(listener: (hostId: string) => void): void {
    this.hostListeners.push(listener);
  }

  onMissedChanges(listener: () => void): void {
    this.missedListeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
    await this.pool.end();
  }
}
