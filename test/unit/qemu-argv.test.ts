import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseAccelerator, kernelCommandLine, qemuArgv, tscKhzFromCpuinfo, type VmLayout } from '../../src/vmm/qemu/argv.ts';

const layout: VmLayout = {
  accel: 'tcg',
  cpus: 2,
  memoryMb: 512,
  kernelPath: '/g/vmlinuz',
  initrdPath: '/m/initrd.img',
  kernelArgs: 'console=ttyS0 quiet',
  rootDisk: { path: '/m/rootfs.qcow2', format: 'qcow2' },
  disks: [{ path: '/v/vol_abc,1.ext4', format: 'raw' }],
  tap: { ifname: 'hgr0abc', mac: '02:fd:00:00:00:01' },
  qmpSocket: '/m/qmp.sock',
  agentSocket: '/m/agent.sock',
  consoleLog: '/m/console.log',
  pidFile: '/m/qemu.pid',
};

describe('QEMU argv', () => {
  it('builds the microvm command line', () => {
    assert.deepEqual(qemuArgv(layout), [
      '-name', 'hangar',
      '-machine', 'microvm,x-option-roms=off,isa-serial=on,rtc=on',
      '-accel', 'tcg',
      '-cpu', 'max',
      '-smp', '2',
      '-m', '512M',
      '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
      '-kernel', '/g/vmlinuz',
      '-initrd', '/m/initrd.img',
      '-append', 'console=ttyS0 quiet',
      '-chardev', 'file,id=console,path=/m/console.log,append=on',
      '-serial', 'chardev:console',
      '-qmp', 'unix:/m/qmp.sock,server=on,wait=off',
      '-pidfile', '/m/qemu.pid',
      '-drive', 'id=disk0,file=/m/rootfs.qcow2,format=qcow2,if=none,cache=none,aio=threads',
      '-device', 'virtio-blk-device,drive=disk0',
      '-drive', 'id=disk1,file=/v/vol_abc,,1.ext4,format=raw,if=none,cache=none,aio=threads',
      '-device', 'virtio-blk-device,drive=disk1',
      '-netdev', 'tap,id=net0,ifname=hgr0abc,script=no,downscript=no',
      '-device', 'virtio-net-device,netdev=net0,mac=02:fd:00:00:00:01',
      '-device', 'virtio-serial-device',
      '-chardev', 'socket,id=agent,path=/m/agent.sock,server=on,wait=off',
      '-device', 'virtserialport,chardev=agent,name=hangar.0',
      '-device', 'virtio-balloon-device',
    ]);
  });

  it('uses the host CPU under KVM and leaves out the network without a TAP', () => {
    const argv = qemuArgv({ ...layout, accel: 'kvm', tap: undefined, disks: [] });
    assert.equal(argv[argv.indexOf('-cpu') + 1], 'host');
    assert.equal(argv.includes('-netdev'), false);
    assert.equal(argv.filter((a) => a === '-drive').length, 1);
  });

  it('maps guest RAM from a shared file and waits for an incoming state when resuming', () => {
    const argv = qemuArgv({ ...layout, memoryFile: '/m/memory,1.ram', incoming: true });
    assert.equal(argv[argv.indexOf('-machine') + 1], 'microvm,x-option-roms=off,isa-serial=on,rtc=on,memory-backend=ram');
    assert.equal(argv[argv.indexOf('-object') + 1], 'memory-backend-file,id=ram,size=512M,mem-path=/m/memory,,1.ram,share=on');
    assert.deepEqual(argv.slice(-2), ['-incoming', 'defer']);
    assert.equal(qemuArgv(layout).includes('-object'), false);
  });

  it('loads no kernel or initramfs into a QEMU that waits for a state, only into one that boots', () => {
    const resume = qemuArgv({ ...layout, incoming: true });
    for (const flag of ['-kernel', '-initrd', '-append']) assert.equal(resume.includes(flag), false, flag);
    const boot = qemuArgv(layout);
    assert.equal(boot[boot.indexOf('-kernel') + 1], layout.kernelPath);
    assert.equal(boot[boot.indexOf('-initrd') + 1], layout.initrdPath);
  });

  it('maps a fork\'s frozen RAM private, so the child\'s writes stay its own', () => {
    const argv = qemuArgv({ ...layout, memoryFile: '/forks/child.ram', memoryPrivate: true, incoming: true });
    assert.equal(argv[argv.indexOf('-object') + 1], 'memory-backend-file,id=ram,size=512M,mem-path=/forks/child.ram,share=off');
  });

  it('turns on free page reporting, and bounds TCG\'s code buffer (never KVM\'s)', () => {
    const argv = qemuArgv({ ...layout, freePageReporting: true, tcgBufferMb: 32 });
    assert.ok(argv.includes('virtio-balloon-device,free-page-reporting=on'));
    assert.equal(argv[argv.indexOf('-accel') + 1], 'tcg,tb-size=32');
    const kvm = qemuArgv({ ...layout, accel: 'kvm', tcgBufferMb: 32 });
    assert.equal(kvm[kvm.indexOf('-accel') + 1], 'kvm');
    assert.ok(qemuArgv(layout).includes('virtio-balloon-device'));
  });

  it('chooses KVM only with vmx/svm and /dev/kvm', () => {
    const vmx = 'processor\t: 0\nflags\t\t: fpu vme vmx sse\n';
    const none = 'processor\t: 0\nflags\t\t: fpu vme sse hypervisor\n';
    assert.equal(chooseAccelerator(vmx, true), 'kvm');
    assert.equal(chooseAccelerator(vmx, false), 'tcg');
    assert.equal(chooseAccelerator(none, true), 'tcg');
    assert.equal(chooseAccelerator('flags : svm', true), 'kvm');
  });

  it('builds the kernel command line, with the TSC rate for TCG guests', () => {
    assert.equal(kernelCommandLine(), 'console=ttyS0 quiet panic=-1 reboot=t random.trust_cpu=on');
    assert.equal(kernelCommandLine({ tscKhz: 2793436, extra: ['loglevel=7'] }), 'console=ttyS0 quiet panic=-1 reboot=t random.trust_cpu=on tsc_early_khz=2793436 loglevel=7');
  });

  it('reads the host TSC rate from /proc/cpuinfo', () => {
    assert.equal(tscKhzFromCpuinfo('processor\t: 0\ncpu MHz\t\t: 2793.436\ncache size\t: 16384 KB\n'), 2793436);
    assert.equal(tscKhzFromCpuinfo('processor\t: 0\n'), undefined);
  });
});
