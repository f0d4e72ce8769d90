/**
 * The guest's initramfs: busybox and the virtio modules Debian's cloud kernel
 * builds as modules, in load order, plus an /init. Built from the assets that
 * scripts/setup-guest.sh puts in .tools/guest.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CpioEntry, cpioArchive } from './cpio.ts';

/** Modules to load, each after the ones it depends on (from their `depends=` modinfo). */
export const GUEST_MODULES = [
  'net/core/failover',
  'drivers/net/net_failover',
  'drivers/virtio/virtio_ring',
  'drivers/virtio/virtio',
  'drivers/virtio/virtio_mmio',
  'drivers/block/virtio_blk',
  'drivers/net/virtio_net',
  'drivers/char/virtio_console',
  'drivers/virtio/virtio_balloon',
] as const;

export interface GuestAssets {
  kernel: string;
  modulesDir: string;
  busybox: string;
  /** hangar-init, PID 1 of every machine. */
  init: string;
  /** hangar-envd, the sandbox agent: needed only by machines that run it. */
  envd: string;
}

export function guestAssets(root: string): GuestAssets {
  const assets = {
    kernel: join(root, '.tools/guest/vmlinuz'),
    modulesDir: join(root, '.tools/guest/modules/kernel'),
    busybox: '/bin/busybox',
    init: join(root, '.tools/guest/hangar-init'),
  };
  for (const [what, path] of Object.entries(assets)) {
    if (!existsSync(path)) throw new Error(`guest ${what} missing at ${path}: run scripts/setup-guest.sh`);
  }
  return { ...assets, envd: join(root, '.tools/guest/hangar-envd') };
}

/**
 * The base archive shared by every machine: directories, busybox (with /bin/sh),
 * the modules under /lib/modules, and /init (hangar-init unless `init` is given).
 */
export function baseInitramfs(assets: GuestAssets, init: { data: Buffer | string } = { data: readFileSync(assets.init) }): Buffer {
  const entries: CpioEntry[] = ['bin', 'sbin', 'dev', 'proc', 'sys', 'run', 'tmp', 'mnt', 'lib', 'lib/modules', 'newroot']
    .map((path) => ({ kind: 'dir' as const, path }));
  entries.push(
    { kind: 'file', path: 'bin/busybox', data: readFileSync(assets.busybox), mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'file', path: 'init', data: init.data, mode: 0o755 },
  );
  for (const module of GUEST_MODULES) {
    const name = module.split('/').at(-1) as string;
    entries.push({ kind: 'file', path: `lib/modules/${name}.ko`, data: readFileSync(join(assets.modulesDir, `${module}.ko`)) });
  }
  entries.push({ kind: 'file', path: 'lib/modules/load-order', data: `${GUEST_MODULES.map((m) => m.split('/').at(-1)).join('\n')}\n` });
  return cpioArchive(entries);
}
