/**
 * WireGuard between hosts, as hangar runs it: this host's key pair (the private key
 * stays in the data directory, the public one is published), and one interface in
 * the machines' namespace whose encrypted side (its UDP socket) stays where hangar
 * runs, on the host's own network. It is the kernel's WireGuard where the kernel has
 * it, else the userspace `wireguard-go` (hangar's own in .tools/, which
 * scripts/setup-guest.sh fetches from Debian's backports for its TUN offloads, else
 * the one on PATH), made in hangar's namespace and moved in: both keep their socket
 * where they were made. Like the machines, the interface outlives hangar; a start
 * finds it and keeps it.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { UnderlayEnd } from '../../domain/ports.ts';
import { exec } from '../host-network.ts';
import { formatEndpoint, isWireguardKey, type Peer } from './peers.ts';
import type { Underlay, UnderlayLog } from './underlay.ts';

const KEY_FILE = 'wireguard.key';
const CONFIG_FILE = 'wireguard.conf';
/** How long wireguard-go is given after it answers, and after its link moved. */
const SETTLE_MS = 100;
/** Where wireguard-go listens for `wg`, one socket per link (machine-wide, whatever the namespace). */
const USERSPACE_SOCKETS = '/var/run/wireguard';
/**
 * hangar's own wireguard-go: Debian 12's (0.0.20220316) predates the TUN offloads
 * (segments of up to 64 KiB through the TUN device, not one packet per read), which
 * the backports' build has: 3.8–4 times the throughput here (BENCHMARKS.md).
 */
const OWN_WIREGUARD_GO = fileURLToPath(new URL('../../../.tools/wireguard-go/wireguard-go', import.meta.url));
/** X25519 private keys in PKCS#8 DER: this prefix, then the 32 bytes. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

export interface WireguardOptions {
  dataDir: string;
  ns: string;
  link: string;
  /** Where peers send to this host (`IP:PORT`): the port is the one the interface listens on. */
  endpoint: { host: string; port: number };
  log: UnderlayLog;
  /** hangar's own wireguard-go, tried first where the kernel has no WireGuard (default: the one setup fetched into .tools/). */
  ownWireguardGo?: string;
}

export class WireguardUnderlay implements Underlay {
  readonly kind = 'wireguard' as const;
  readonly link: string;
  private readonly options: WireguardOptions;
  private readonly privateKey: string;
  readonly publicKey: string;

  constructor(options: WireguardOptions) {
    this.options = options;
    this.link = options.link;
    this.privateKey = keptPrivateKey(options.dataDir, options.log);
    this.publicKey = publicKeyOf(this.privateKey);
  }

  end(): UnderlayEnd {
    return { kind: 'wireguard', endpoint: formatEndpoint(this.options.endpoint), publicKey: this.publicKey };
  }

  async ensure(): Promise<void> {
    const { ns, endpoint } = this.options;
    const key = await this.inNs(['wg', 'show', this.link, 'private-key']).catch(() => undefined);
    if (key?.trim() !== this.privateKey) {
      await this.inNs(['ip', 'link', 'del', this.link]).catch(() => undefined);
      // One left here by a start that stopped before moving it.
      await exec(['ip', 'link', 'del', this.link]).catch(() => undefined);
      const implementation = await this.createInNamespace();
      this.options.log.info({ netns: ns, link: this.link, implementation }, `network: WireGuard link ${this.link} made (${implementation})`);
    }
    await this.inNs(['wg', 'set', this.link, 'private-key', join(this.options.dataDir, KEY_FILE), 'listen-port', String(endpoint.port)]);
    await this.inNs(['ip', 'link', 'set', this.link, 'up']);
  }

  /** `wg` reads its configuration from a file (standard input is a socket here, which it cannot open): the data directory's, private. */
  async configure(peers: Peer[]): Promise<void> {
    const path = join(this.options.dataDir, CONFIG_FILE);
    writeFileSync(path, wireguardConfig(this.privateKey, this.options.endpoint.port, peers), { mode: 0o600 });
    await this.inNs(['wg', 'syncconf', this.link, path]);
  }

  /** WireGuard routes by the peers' allowed addresses: no gateway. */
  gateway(): { via?: string } {
    return {};
  }

  /**
   * Makes the link here and moves it into the machines' namespace. wireguard-go
   * sometimes ends when its link is moved in the first moments after it answers:
   * it is given a moment, and made again (at most three times) if it did not last.
   */
  private async createInNamespace(): Promise<'kernel' | 'wireguard-go'> {
    for (let attempt = 1; ; attempt++) {
      const made = await this.create();
      if (made === 'wireguard-go') await sleep(SETTLE_MS);
      await exec(['ip', 'link', 'set', this.link, 'netns', this.options.ns]);
      if (made === 'kernel') return made;
      await sleep(SETTLE_MS);
      if (await answers(this.socket)) return made;
      await this.inNs(['ip', 'link', 'del', this.link]).catch(() => undefined);
      if (attempt === 3) throw new Error(`wireguard-go ended each time its link ${this.link} was moved into ${this.options.ns}`);
      this.options.log.warn({ link: this.link, attempt }, 'network: wireguard-go ended as its link was moved; making it again');
    }
  }

  private async create(): Promise<'kernel' | 'wireguard-go'> {
    try {
      await exec(['ip', 'link', 'add', this.link, 'type', 'wireguard']);
      return 'kernel';
    } catch {
      // No WireGuard in this kernel: the userspace one. It runs on as a daemon while the link exists.
      await this.startUserspace();
      // It answers `wg` on its socket a moment after the link exists; `wg` deletes a socket that refuses it, so it waits until one answers.
      for (let waited = 0; !(await answers(this.socket)); waited += 20) {
        if (waited > 5_000) throw new Error(`wireguard-go made ${this.link} but never answered on ${this.socket}`);
        await sleep(20);
      }
      return 'wireguard-go';
    }
  }

  /** Starts wireguard-go for the link: hangar's own if it has one, else (or if that fails) the one on PATH. */
  private async startUserspace(): Promise<void> {
    const failures: string[] = [];
    const own = this.options.ownWireguardGo ?? OWN_WIREGUARD_GO;
    for (const binary of existsSync(own) ? [own, 'wireguard-go'] : ['wireguard-go']) {
      try {
        await exec([binary, this.link], undefined, { PATH: process.env.PATH, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' });
        return;
      } catch (error) {
        failures.push((error as Error).message);
        if (binary === own) this.options.log.warn({ link: this.link, err: error }, 'network: hangar\'s own wireguard-go could not make the link; trying the one on PATH');
      }
    }
    throw new Error(`this kernel has no WireGuard and wireguard-go could not make ${this.link} (install Debian's wireguard-go and wireguard-tools, `
      + `or use --underlay off): ${failures.join('; ')}`);
  }

  /** Where wireguard-go answers `wg` for this link. */
  private get socket(): string {
    return join(USERSPACE_SOCKETS, `${this.link}.sock`);
  }

  private inNs(argv: string[]): Promise<string> {
    return exec(['ip', 'netns', 'exec', this.options.ns, ...argv]);
  }
}

/** Whether a unix socket takes a connection. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path }, () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** `wg syncconf`'s input: this end, and each peer with the /64s it is reached for. */
export function wireguardConfig(privateKey: string, port: number, peers: Peer[]): string {
  const lines = ['[Interface]', `PrivateKey = ${privateKey}`, `ListenPort = ${port}`];
  for (const peer of peers) {
    lines.push('', '[Peer]', `PublicKey = ${peer.publicKey}`, `Endpoint = ${formatEndpoint(peer.endpoint)}`, `AllowedIPs = ${[...peer.prefixes, peer.host].join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The data directory's private key, made at the first start (a file that holds no key is replaced, and said so). */
function keptPrivateKey(dataDir: string, log: UnderlayLog): string {
  const path = join(dataDir, KEY_FILE);
  if (existsSync(path)) {
    const kept = readFileSync(path, 'utf8').trim();
    if (isWireguardKey(kept)) return kept;
    log.warn({ path }, 'the WireGuard key in the data directory is not one: a new key pair replaces it (peers learn the new public key)');
  }
  const der = generateKeyPairSync('x25519').privateKey.export({ format: 'der', type: 'pkcs8' });
  const key = der.subarray(der.length - 32).toString('base64');
  writeFileSync(path, `${key}\n`, { mode: 0o600 });
  return key;
}

export function publicKeyOf(privateKey: string): string {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, Buffer.from(privateKey, 'base64')]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32).toString('base64');
}
