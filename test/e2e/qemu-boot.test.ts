/**
 * A real microVM under QEMU (TCG here, KVM where the host has it): the argv
 * builder's command line boots Debian's cloud kernel with hangar's initramfs, the
 * virtio devices come up, the host–guest channel carries bytes both ways, and QMP
 * controls the VM. Needs scripts/setup-guest.sh (run by scripts/test.sh).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { baseInitramfs, guestAssets } from '../../src/guest/initramfs.ts';
import { qemuArgv } from '../../src/vmm/qemu/argv.ts';
import { testVmLayout } from '../helpers/vm.ts';
import { QmpClient } from '../../src/vmm/qemu/qmp.ts';
import { ROOT } from '../helpers/server-process.ts';

const SMOKE_INIT = `#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
while read -r m; do insmod /lib/modules/$m.ko; done < /lib/modules/load-order
echo "SMOKE devices: $(ls /sys/bus/virtio/devices | wc -l) disk: $(ls /dev/vda) net: $(ls /sys/class/net | tr '\\n' ' ')"
for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name)" = hangar.0 ] && port=/dev/$(basename $p); done
echo "SMOKE port: $port"
echo "hello from $(cat /proc/sys/kernel/osrelease)" > $port
read -r line < $port
echo "SMOKE host said: $line"
exec sleep 3600
`;

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('QEMU microvm boot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-boot-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('boots, talks over the agent channel and obeys QMP', async () => {
    const assets = guestAssets(ROOT);
    writeFileSync(join(dir, 'initrd.img'), baseInitramfs(assets, { data: SMOKE_INIT }));
    const disk = join(dir, 'rootfs.img');
    writeFileSync(disk, Buffer.alloc(16 * 1024 * 1024));
    const layout = testVmLayout(dir, assets, { rootDisk: { path: disk, format: 'raw' }, disks: [] });
    const qemu = spawn('qemu-system-x86_64', qemuArgv(layout), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    qemu.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => qemu.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => existsSync(layout.qmpSocket) && existsSync(layout.agentSocket), 10_000, `QEMU sockets (${stderr})`);
      const qmp = await QmpClient.connect(layout.qmpSocket);
      assert.equal((await qmp.execute('query-status', {})).status, 'running');

      const console = () => (existsSync(layout.consoleLog) ? readFileSync(layout.consoleLog, 'utf8') : '');
      const agent = connect(layout.agentSocket);
      let fromGuest = '';
      agent.on('data', (d) => { fromGuest += d; });
      await waitFor(() => fromGuest.includes('\n'), 60_000, 'the guest to write to the agent channel')
        .catch((error: Error) => { throw new Error(`${error.message}; console ends:\n${console().split('\n').slice(-15).join('\n')}`); });
      assert.match(fromGuest, /^hello from 6\.1\.\d+-\d+-cloud-amd64\n$/);
      agent.write('ping-from-host\n');

      await waitFor(() => console().includes('SMOKE host said'), 10_000, 'the guest to read from the agent channel');
      assert.match(console(), /SMOKE devices: 3 disk: \/dev\/vda net: lo /, console());
      assert.match(console(), /SMOKE host said: ping-from-host/);

      await qmp.execute('stop', {});
      assert.equal((await qmp.execute('query-status', {})).status, 'paused');
      await qmp.execute('cont', {});
      await qmp.execute('quit', {}).catch(() => undefined);
      assert.equal(await exited, 0);
      agent.destroy();
    } finally {
      qemu.kill('SIGKILL');
    }
  });
});
