/**
 * The defaults `hangar serve`'s flags and a hangar assembled without flags (tests,
 * benchmarks) share: addresses, the proxy's domain and ports, and the intervals.
 * Not yet here: the control settings' defaults (assemble/core.ts: region, E2B
 * spares, machines per app), which serve's flags repeat, and the network check's
 * (network/keeper.ts, a floor below this one).
 */
import { readFileSync } from 'node:fs';
import { HEARTBEAT_MS, HOST_LOST_AFTER_MS } from './domain/host.ts';

/** The version in package.json. */
export const HANGAR_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const DEFAULTS = {
  apiListen: '127.0.0.1:4280',
  proxyListen: '127.0.0.1:8080',
  proxyTlsListen: '127.0.0.1:8443',
  proxyPorts: '20000-20999',
  proxyDomain: 'localhost',
  agentListen: '127.0.0.1:4290',
  autostopAfterMs: 5 * 60_000,
  watchdogIntervalMs: 15_000,
  storePoolSize: 10,
  /** How often a host writes its heartbeat. */
  heartbeatMs: HEARTBEAT_MS,
  /** How long a host may be silent before a replica declares it lost. */
  hostLostAfterMs: HOST_LOST_AFTER_MS,
} as const;

/** The shortest `--host-lost-after`: three heartbeats may be missed before a host is lost. */
export function minimumLostAfterMs(heartbeatMs: number): number {
  return 3 * heartbeatMs;
}
