/**
 * `hangar serve`: the API, host agent and edge proxy in one process, until SIGINT/SIGTERM.
 * The server (fastify, the drivers, the image code) is imported only when it starts:
 * every other command loads this spec too, and must not pay for it.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DriverName, FakeTiming, Role } from '../../server.ts';
import { formatGoDuration, parseGoDuration } from '../../domain/duration.ts';
import { DEFAULTS, minimumLostAfterMs } from '../../config.ts';
import { errorMessage } from '../../domain/errors.ts';
import { DEFAULT_SUSPEND_MAX_MEMORY_MB } from '../../domain/suspend.ts';
import { formatHostNumber, formatIpv4Range, type Ipv4Range, parseHostNumber, parseIpv4Range } from '../../network/layout.ts';
import type { CommandSpec } from '../command.ts';

export function defaultDataDir(env: Record<string, string | undefined>): string {
  return env.HANGAR_DATA_DIR || join(homedir(), '.hangar');
}

export const serve: CommandSpec = {
  path: ['serve'],
  description: 'run hangar: the Machines API, the host agent and the edge proxy, state kept in --data-dir',
  options: [
    { flags: '--data-dir <dir>', description: 'where state lives (default $HANGAR_DATA_DIR or ~/.hangar)' },
    { flags: '--store <url>', description: 'keep apps, machines and volumes in PostgreSQL: a postgres:// or postgresql:// URL (TLS by its sslmode); default: SQLite in the data dir' },
    { flags: '--store-pool-size <n>', description: 'most connections to the --store database', default: String(DEFAULTS.storePoolSize) },
    { flags: '--role <role>', description: 'all (API, host agent and proxy in one process), or in a cluster on --store postgres://: api (an API replica) or host (a host agent)', default: 'all' },
    { flags: '--cluster-dir <dir>', description: 'roles api and host: this process\'s identity in the cluster (ca.crt, cert.pem, key.pem, from hangar cluster issue)' },
    { flags: '--agent-listen <host:port>', description: 'role host: where the agent API replicas call listens', default: DEFAULTS.agentListen },
    { flags: '--agent-address <host>', description: 'role host: the host name or address replicas reach the agent API by (default: the --agent-listen host)' },
    { flags: '--api-listen <host:port>', description: 'API address', default: DEFAULTS.apiListen },
    { flags: '--proxy-listen <host:port>', description: 'edge proxy address: apps answer there as <app>.<proxy domain>', default: DEFAULTS.proxyListen },
    { flags: '--proxy-tls-listen <host:port>', description: 'edge proxy TLS address (port 443 services and force_https), or off', default: DEFAULTS.proxyTlsListen },
    { flags: '--tls-cert <file>', description: 'PEM certificate the TLS listener presents for every app (default: one per app from a local certificate authority made in the data dir)' },
    { flags: '--tls-key <file>', description: 'PEM private key of --tls-cert' },
    { flags: '--secrets-key-file <file>', description: 'keys app secrets are sealed with, base64, one per line, the sealing one first (default $HANGAR_SECRETS_KEY; alone, secrets.key made in the data dir)' },
    { flags: '--proxy-ports <first-last>', description: "host ports given to apps' other public ports (raw TCP and the rest), on the --proxy-listen host", default: DEFAULTS.proxyPorts },
    { flags: '--proxy-domain <domain>', description: 'apps are reached through the proxy with Host: <app>.<domain>', default: DEFAULTS.proxyDomain },
    { flags: '--autostop-after <duration>', description: 'idle period before the proxy stops or suspends a machine with autostop (5m, 30s, 5s)', default: formatGoDuration(DEFAULTS.autostopAfterMs) },
    { flags: '--driver <name>', description: 'VMM driver: qemu (microVMs; needs root and scripts/setup-guest.sh) or fake (no VMs). Role api: its hosts\' driver; with fake, a create\'s tag is pinned to a made-up digest instead of the registry\'s', default: 'qemu' },
    { flags: '--netns <name>', description: 'qemu driver: the machines\' network namespace', default: 'hangar' },
    { flags: '--host-number <hex>', description: 'qemu driver: this host\'s number, the group after the app\'s /48 in new machines\' addresses (default: a7b for --netns hangar, else one derived from the name; kept in the data dir)' },
    { flags: '--ipv4-range <cidr>', description: 'qemu driver: the machines\' IPv4 range, /8 to /23 (default: 172.19.0.0/16 for --netns hangar, else a free /20 of 172.20.0.0/14; kept in the data dir)' },
    { flags: '--network-check-interval <duration>', description: 'qemu driver: how often the network is compared with the plan and repaired', default: '30s' },
    { flags: '--underlay <kind>', description: 'role host, qemu driver: how machines reach their app\'s machines on other hosts: wireguard (encrypted; the kernel\'s, else wireguard-go), plain (VXLAN, unencrypted: a trusted network only) or off', default: 'wireguard' },
    { flags: '--underlay-endpoint <ip:port>', description: 'role host: where other hosts send this host\'s private network traffic (UDP; default: the --agent-address host, port 51820)' },
    { flags: '--outbound-nat', description: 'qemu driver: let machines reach the outside world over IPv4 through the host (masquerade)' },
    { flags: '--watchdog-interval <duration>', description: 'how often machines are checked: stuck in a transient state, or started with a VM that does not run', default: formatGoDuration(DEFAULTS.watchdogIntervalMs) },
    { flags: '--fake-timing <timing>', description: 'fake driver only: realistic (boots take time) or instant', default: 'realistic' },
    { flags: '--guest-image-registries <hosts>', description: 'registries (host or host:port, comma-separated) a machine may take a new image from when it updates itself through /.fly/api (default: none; it may keep its image)', default: '' },
    { flags: '--max-machines-per-app <n>', description: 'most machines (not destroyed) one app may have', default: '1000' },
    { flags: '--region <code>', description: 'region of machines created without one', default: 'local' },
    { flags: '--host-id <id>', description: 'this host\'s id among hosts (lowercase letters, digits, dashes; default: from the machine\'s name)' },
    { flags: '--take-over', description: 'role host: hold the host even though another instance (another data directory) holds it and was heard from lately; only for a server replaced while its old instance is known dead' },
    { flags: '--heartbeat-interval <duration>', description: 'how often a host writes its heartbeat', default: formatGoDuration(DEFAULTS.heartbeatMs) },
    { flags: '--host-lost-after <duration>', description: 'a host silent this long is declared lost by a replica (at least 3 heartbeats)', default: formatGoDuration(DEFAULTS.hostLostAfterMs) },
    { flags: '--host-cpus <n>', description: 'CPUs machines may reserve on this host, counted while they are not destroyed (default: not limited)' },
    { flags: '--host-memory-mb <mb>', description: 'memory machines may reserve on this host (default: not limited)' },
    { flags: '--suspend-max-memory-mb <mb>', description: 'largest guest that may be suspended', default: String(DEFAULT_SUSPEND_MAX_MEMORY_MB) },
    { flags: '--suspended-memory-for <duration>', description: 'how long a suspended machine\'s RAM stays in host memory once written to disk, for a fast resume (0s: let go at once)', default: '1m' },
    { flags: '--e2b-spares <n>', description: 'E2B: forks of each snapshot template\'s base kept started for the next creates (0: each create forks)', default: '1' },
    { flags: '--log-level <level>', description: 'trace, debug, info, warn, error', default: 'info' },
  ],
  async handler({ io }, _args, options) {
    if (options.driver !== 'fake' && options.driver !== 'qemu') {
      io.err(`unknown driver "${options.driver}"; available: fake, qemu`);
      return 2;
    }
    if (!['realistic', 'instant'].includes(options.fakeTiming)) {
      io.err(`--fake-timing must be realistic or instant, got "${options.fakeTiming}"`);
      return 2;
    }
    let idleMs: number;
    let watchdogMs: number;
    let suspendedMemoryMs: number;
    let heartbeatMs: number;
    let hostLostAfterMs: number;
    try {
      idleMs = parseGoDuration(options.autostopAfter, '--autostop-after');
      suspendedMemoryMs = parseGoDuration(options.suspendedMemoryFor, '--suspended-memory-for');
      watchdogMs = parseGoDuration(options.watchdogInterval, '--watchdog-interval');
      heartbeatMs = parseGoDuration(options.heartbeatInterval, '--heartbeat-interval');
      hostLostAfterMs = parseGoDuration(options.hostLostAfter, '--host-lost-after');
    } catch (error) {
      io.err(errorMessage(error));
      return 2;
    }
    if (heartbeatMs < 100) {
      io.err('--heartbeat-interval must be at least 100ms');
      return 2;
    }
    if (hostLostAfterMs < minimumLostAfterMs(heartbeatMs)) {
      io.err(`--host-lost-after must be at least three heartbeats (${minimumLostAfterMs(heartbeatMs) / 1000}s with --heartbeat-interval ${options.heartbeatInterval}), got ${options.hostLostAfter}`);
      return 2;
    }
    if (watchdogMs <= 0) {
      io.err('--watchdog-interval must be a positive duration, e.g. 15s');
      return 2;
    }
    if (idleMs <= 0) {
      io.err('--autostop-after must be a positive duration, e.g. 5m or 30s');
      return 2;
    }
    const e2bSpares = Number(options.e2bSpares);
    if (!/^\d{1,2}$/.test(String(options.e2bSpares)) || e2bSpares > 16) {
      io.err(`--e2b-spares must be a whole number from 0 to 16, got "${options.e2bSpares}"`);
      return 2;
    }
    let network: { hostNumber?: number; ipv4Range?: Ipv4Range; checkMs: number };
    try {
      network = {
        hostNumber: options.hostNumber === undefined ? undefined : parseHostNumber(options.hostNumber),
        ipv4Range: options.ipv4Range === undefined ? undefined : parseIpv4Range(options.ipv4Range),
        checkMs: parseGoDuration(options.networkCheckInterval, '--network-check-interval'),
      };
    } catch (error) {
      io.err(errorMessage(error));
      return 2;
    }
    if (!['wireguard', 'plain', 'off'].includes(options.underlay)) {
      io.err(`--underlay must be wireguard, plain or off, got "${options.underlay}"`);
      return 2;
    }
    const maxMachines = Number(options.maxMachinesPerApp);
    if (!Number.isInteger(maxMachines) || maxMachines < 1) {
      io.err(`--max-machines-per-app must be a positive whole number, got "${options.maxMachinesPerApp}"`);
      return 2;
    }
    if (options.hostId !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(options.hostId)) {
      io.err(`--host-id must be 1-63 lowercase letters, digits and dashes, got "${options.hostId}"`);
      return 2;
    }
    const capacity: { cpus?: number; memoryMb?: number } = {};
    for (const [flag, value, key] of [['--host-cpus', options.hostCpus, 'cpus'], ['--host-memory-mb', options.hostMemoryMb, 'memoryMb']] as const) {
      if (value === undefined) continue;
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) {
        io.err(`${flag} must be a positive whole number, got "${value}"`);
        return 2;
      }
      capacity[key] = n;
    }
    if (Boolean(options.tlsCert) !== Boolean(options.tlsKey)) {
      io.err('--tls-cert and --tls-key go together');
      return 2;
    }
    if (!['all', 'api', 'host'].includes(options.role)) {
      io.err(`--role must be all, api or host, got "${options.role}"`);
      return 2;
    }
    const dataDir = options.dataDir ?? defaultDataDir(io.env);
    const { storeLocation } = await import('../../store/location.ts');
    const storePoolSize = Number(options.storePoolSize);
    try {
      storeLocation(options.store, dataDir, storePoolSize);
    } catch (error) {
      io.err(errorMessage(error));
      return 2;
    }
    const { startServer } = await import('../../server.ts');
    const server = await startServer({
      dataDir,
      store: options.store,
      storePoolSize,
      role: options.role as Role,
      agentListen: options.agentListen,
      agentAddress: options.agentAddress,
      apiListen: options.apiListen,
      proxyListen: options.proxyListen,
      proxyTlsListen: options.proxyTlsListen,
      tlsFiles: options.tlsCert ? { cert: options.tlsCert, key: options.tlsKey } : undefined,
      secretsKeyFile: options.secretsKeyFile,
      proxyPorts: options.proxyPorts,
      proxy: { domain: options.proxyDomain, idleMs },
      driver: options.driver as DriverName,
      fakeTiming: options.fakeTiming as FakeTiming,
      suspendedMemoryMs,
      netns: options.netns,
      hostNumber: network.hostNumber,
      ipv4Range: network.ipv4Range,
      networkCheckMs: network.checkMs,
      outboundNat: options.outboundNat === true,
      underlay: options.underlay as 'wireguard' | 'plain' | 'off',
      underlayEndpoint: options.underlayEndpoint,
      logLevel: options.logLevel,
      watchdogMs,
      capacity,
      takeOver: options.takeOver === true,
      clusterDir: options.clusterDir,
      settings: {
        heartbeatMs,
        hostLostAfterMs,
        ...(options.hostId === undefined ? {} : { hostId: options.hostId }),
        defaultRegion: options.region,
        suspendMaxMemoryMb: Number(options.suspendMaxMemoryMb),
        e2bSpares,
        maxMachinesPerApp: maxMachines,
        guestImageRegistries: String(options.guestImageRegistries).split(',').map((host) => host.trim().toLowerCase()).filter(Boolean),
      },
    });
    if (server.role === 'host') {
      io.err(`hangar host agent ${server.agentUrl} (host ${server.hangar.control.settings.hostId}, driver ${options.driver}, data ${dataDir}, store ${server.store})`);
    } else {
      io.err(`hangar ${server.url} (${server.role === 'api' ? 'API replica' : `driver ${options.driver}`}, data ${dataDir}, store ${server.store})`);
    }
    if (server.proxyUrl) io.err(`proxy ${server.proxyUrl} (apps answer as <app>.${options.proxyDomain}), e.g. curl -H 'Host: myapp.${options.proxyDomain}' ${server.proxyUrl}/`);
    if (server.proxyTlsUrl) io.err(`proxy TLS ${server.proxyTlsUrl} (${server.tls?.local ? 'certificates from hangar\'s local authority: trust' : 'certificate'} ${server.tls?.trustFile})`);
    if (server.network) {
      const { ns, hostNumber, ipv4Range } = server.network;
      io.err(`network ${ns}: machines fdaa:0:<app>:${formatHostNumber(hostNumber)}::/64 and ${formatIpv4Range(ipv4Range)} (kept in ${dataDir}/network.json)`);
    }
    if (server.proxyUrl) io.err('apps\' other public ports get host ports of their own: hangar apps ports <app>');
    // A host agent serves no API of its own (its machines' /.fly/api aside): nothing to use a token with.
    if (server.url) {
      io.err(server.tokenSource === 'generated' ? `API token generated and stored in ${server.tokenFile}` : `API token from ${server.tokenSource === 'env' ? 'HANGAR_API_TOKEN' : server.tokenFile}`);
      io.err('Use it with:');
      io.err(`  export HANGAR_API_URL=${server.url} HANGAR_API_TOKEN=$(cat ${server.tokenFile})`);
      io.err(`  curl -H "Authorization: Bearer $HANGAR_API_TOKEN" $HANGAR_API_URL/v1/apps?org_slug=personal`);
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    io.err('hangar: shutting down');
    await server.close();
    return 0;
  },
};
