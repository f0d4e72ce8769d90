/**
 * The cluster link on PostgreSQL: `LISTEN/NOTIFY` carries the hints that tie a
 * cluster's processes together: work queued for a host (the outbox, read through
 * the store), a machine that changed (announced inside its commit's transaction),
 * a host whose state changed. A host's work, and its machines' changes, are
 * announced on channels of its own too (channels.ts): a host agent listens to
 * those, not to every host's. One connection of its own stays open for LISTEN. It
 * is pinged every few seconds, since a connection left half-open (a partition, a
 * failover that sent no reset) would otherwise hear nothing and say nothing; when
 * it breaks or stops answering it is made again, and everyone is told that hints
 * may have been missed.
 */
import pg from 'pg';
import type { ClusterLink } from '../link.ts';
import { hostChannel } from './channels.ts';
import { CHANGE_CHANNEL } from './host-work.ts';
import { HOST_CHANNEL } from './hosts.ts';

/**
 * The payload of a hint on a host's work channel that says requests for its
 * machines came (hangar_request_action); any other is work's, whose payload is the
 * host's id, which cannot hold a colon.
 */
const REQUESTS_HINT = ':requests';
const RECONNECT_MS = 1_000;
/** How often the listening connection is asked whether it lives, and how long it has to answer. */
const PING_MS = 3_000;
const PING_TIMEOUT_MS = 3_000;
/** How long opening the listening connection (and its LISTENs) may take before it is tried again. */
const CONNECT_TIMEOUT_MS = 5_000;

export class PostgresLink implements ClusterLink {
  private readonly url: string;
  /** By channel: a host's work channel's listeners, for work or for requests. */
  private readonly workListeners = new Map<string, Array<{ hint: 'work' | 'requests'; listener: () => void }>>();
  /** By channel: CHANGE_CHANNEL, or a host's machine channel. */
  private readonly changeListeners = new Map<string, Array<(machineId: string, rev: number | undefined) => void>>();
  private readonly missedListeners: Array<() => void> = [];
  private readonly hostListeners: Array<(hostId: string) => void> = [];
  private listener: pg.Client | undefined;
  private pinger: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(url: string) {
    this.url = url;
  }

  static async open(url: string): Promise<PostgresLink> {
    const link = new PostgresLink(url);
    await link.listen();
    link.pinger = setInterval(() => link.ping(), PING_MS);
    link.pinger.unref();
    return link;
  }

  private async listen(): Promise<void> {
    // A connection made while the database is cut off must fail, not hang: a hung attempt is never retried.
    const client = new pg.Client({
      connectionString: this.url, application_name: 'hangar-listen', keepAlive: true, keepAliveInitialDelayMillis: 5_000,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: CONNECT_TIMEOUT_MS,
    });
    client.on('notification', (message) => this.notified(message.channel, message.payload ?? ''));
    client.on('error', () => this.relisten(client));
    client.on('end', () => this.relisten(client));
    const channels = () => [HOST_CHANNEL, ...this.workListeners.keys(), ...this.changeListeners.keys()];
    const listened = channels();
    try {
      await client.connect();
      for (const channel of listened) await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    } catch (error) {
      client.end().catch(() => undefined);
      throw error;
    }
    this.listener = client;
    // Listened for while this connection was being made.
    for (const channel of channels()) if (!listened.includes(channel)) this.listenTo(channel);
  }

  /** A listening connection that does not answer within PING_TIMEOUT_MS is given up and made again. */
  private ping(): void {
    const client = this.listener;
    if (!client || this.closed) return;
    const timer = setTimeout(() => this.relisten(client), PING_TIMEOUT_MS);
    timer.unref();
    client.query('SELECT 1').then(() => clearTimeout(timer), () => {
      clearTimeout(timer);
      this.relisten(client);
    });
  }

  private relisten(broken: pg.Client): void {
    if (this.closed || this.listener !== broken) return;
    this.listener = undefined;
    // Ended without waiting for a goodbye the other end may never send.
    (broken as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    broken.end().catch(() => undefined);
    const retry = () => {
      if (this.closed) return;
      this.listen().then(() => {
        // Hints may have been missed while the connection was down: every host drains,
        // and every change someone waits for is read again.
        for (const listeners of this.workListeners.values()) for (const { listener } of listeners) listener();
        for (const listener of this.missedListeners) listener();
      }, () => setTimeout(retry, RECONNECT_MS).unref());
    };
    setTimeout(retry, RECONNECT_MS).unref();
  }

  private notified(channel: string, payload: string): void {
    if (channel === HOST_CHANNEL) {
      for (const listener of this.hostListeners) listener(payload);
      return;
    }
    const hint = payload === REQUESTS_HINT ? 'requests' : 'work';
    for (const listening of this.workListeners.get(channel) ?? []) if (listening.hint === hint) listening.listener();
    const changed = this.changeListeners.get(channel);
    if (changed) {
      const [machineId, revText] = payload.split(':');
      const rev = revText !== undefined && /^\d{1,15}$/.test(revText) ? Number(revText) : undefined;
      if (machineId) for (const listener of changed) listener(machineId, rev);
    }
  }

  /** Listens to `channel` now if the connection is up (else when it is made again, which listens to every channel listened for). */
  private listenTo(channel: string): void {
    const client = this.listener;
    client?.query(`LISTEN ${client.escapeIdentifier(channel)}`).catch(() => this.relisten(client));
  }

  onWork(hostId: string, listener: () => void): () => void {
    return this.onWorkChannel(hostId, { hint: 'work', listener });
  }

  onRequests(hostId: string, listener: () => void): () => void {
    return this.onWorkChannel(hostId, { hint: 'requests', listener });
  }

  private onWorkChannel(hostId: string, listening: { hint: 'work' | 'requests'; listener: () => void }): () => void {
    const channel = hostChannel('work', hostId);
    const known = this.workListeners.get(channel);
    this.workListeners.set(channel, [...(known ?? []), listening]);
    if (!known) this.listenTo(channel);
    // Unsubscribed, it stays listened to: a hint nobody hears costs a wake-up until the next reconnection.
    return () => this.workListeners.set(channel, (this.workListeners.get(channel) ?? []).filter((other) => other !== listening));
  }

  onMachineChanged(listener: (machineId: string, rev: number | undefined) => void, hostId?: string): void {
    const channel = hostId === undefined ? CHANGE_CHANNEL : hostChannel('machine', hostId);
    const known = this.changeListeners.get(channel);
    this.changeListeners.set(channel, [...(known ?? []), listener]);
    if (!known) this.listenTo(channel);
  }

  onHostChanged(listener: (hostId: string) => void): void {
    this.hostListeners.push(listener);
  }

  onMissedChanges(listener: () => void): void {
    this.missedListeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pinger);
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
  }
}
