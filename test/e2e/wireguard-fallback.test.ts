/**
 * The WireGuard link where the kernel has no WireGuard: hangar runs its own
 * wireguard-go (the one setup fetched), and the one on PATH when its own cannot
 * make the link, with a warning that says so. Here its own is a program that fails.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { meshLinkName } from '../../src/network/layout.ts';
import { WireguardUnderlay } from '../../src/network/mesh/wireguard.ts';
import { removeNamespace } from '../helpers/network.ts';
import { freePort } from '../helpers/registry.ts';

describe('the WireGuard link without the kernel\'s WireGuard', () => {
  const ns = `hgr-wgfb-${Math.random().toString(16).slice(2, 6)}`;
  const link = meshLinkName(ns);
  const dir = mkdtempSync(join(tmpdir(), 'hangar-wgfb-'));
  const broken = join(dir, 'broken-wireguard-go');
  let kernelHasWireguard = false;

  before(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    writeFileSync(broken, '#!/bin/sh\necho "this wireguard-go is broken" >&2\nexit 1\n');
    chmodSync(broken, 0o755);
    try {
      execFileSync('ip', ['-n', ns, 'link', 'add', 'hgr-wgprobe', 'type', 'wireguard'], { stdio: 'ignore' });
      kernelHasWireguard = true;
    } catch {
      // No WireGuard in this kernel: wireguard-go makes the link.
    }
  });
  after(async () => {
    await removeNamespace(ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the link with the wireguard-go on PATH when hangar\'s own fails, and says so', async (t) => {
    if (kernelHasWireguard) return t.skip('this kernel has WireGuard: no wireguard-go runs');
    const warnings: string[] = [];
    const underlay = new WireguardUnderlay({
      dataDir: dir, ns, link, endpoint: { host: '127.0.0.1', port: await freePort() }, ownWireguardGo: broken,
      log: { info() {}, warn: (_object, message) => void warnings.push(message) },
    });
    await underlay.ensure();
    const key = execFileSync('ip', ['netns', 'exec', ns, 'wg', 'show', link, 'public-key']).toString().trim();
    assert.equal(key, underlay.publicKey, 'the link runs, with this host\'s key');
    assert.ok(warnings.some((message) => /own wireguard-go could not make the link; trying the one on PATH/.test(message)), JSON.stringify(warnings));
    const running = execFileSync('pgrep', ['-a', '-f', `^([^ ]*/)?wireguard-go ${link}$`]).toString();
    assert.match(running, new RegExp(`^\\d+ wireguard-go ${link}$`, 'm'), 'the one on PATH runs it');
  });
});
