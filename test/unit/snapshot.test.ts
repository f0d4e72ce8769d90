import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuIdentity } from '../../src/vmm/qemu/host-facts.ts';
import { memorySource, type SnapshotFacts, type SnapshotInfo, snapshotProblem } from '../../src/vmm/qemu/snapshot.ts';
import { portableArgv } from '../../src/vmm/qemu/vm-plan.ts';

const identity = { imageDigest: 'sha256:aa', version: 'v1', argv: 'a1', qemu: 'QEMU 7.2', kernel: 'k1', cpu: 'AMD EPYC/0123456789abcdef' };
const info: SnapshotInfo = {
  id: 's1', takenAt: '2026-11-22T00:00:00Z', identity, launchId: 'l1', bootId: 'b1', sharedMemory: true,
  memoryBytes: 256 << 20, stateBytes: 1000, stateSha256: 'sha256:cc',
};
const facts: SnapshotFacts = { identity, bootId: 'b1', launchId: 'l1', stateBytes: 1000, stateSha256: 'sha256:cc', liveMemoryBytes: 256 << 20, memoryBytes: 256 << 20 };

describe('snapshot rules', () => {
  it('resumes a snapshot that matches in every respect', () => {
    assert.equal(snapshotProblem(info, facts), null);
  });

  it('refuses a snapshot taken with another image, version, layout, QEMU, kernel or CPU', () => {
    const changed: Array<[keyof typeof identity, RegExp]> = [
      ['imageDigest', /the image changed/], ['version', /the machine version changed/], ['argv', /the VM layout changed/],
      ['qemu', /QEMU changed/], ['kernel', /the guest kernel changed/], ['cpu', /the host's CPU changed/],
    ];
    for (const [key, reason] of changed) {
      assert.match(snapshotProblem(info, { ...facts, identity: { ...identity, [key]: 'other' } }) ?? '', reason);
    }
  });

  it('refuses a snapshot whose identity names its host (an earlier hangar\'s), saying so', () => {
    const { cpu: _cpu, ...named } = identity;
    const earlier = { ...info, identity: { ...named, host: 'm1/h1' } as unknown as SnapshotInfo['identity'] };
    assert.match(snapshotProblem(earlier, facts) ?? '', /taken by an earlier hangar/);
  });

  it('refuses a snapshot from an earlier launch (used once: a resume or cold boot makes a new launch)', () => {
    assert.match(snapshotProblem(info, { ...facts, launchId: 'l2' }) ?? '', /older than the machine's latest launch/);
  });

  it('trusts an unflushed snapshot only within the host boot that took it', () => {
    assert.match(snapshotProblem(info, { ...facts, bootId: 'b2' }) ?? '', /host restarted before the snapshot reached the disk/);
    assert.equal(snapshotProblem(info, { ...facts, bootId: 'b2', flushedId: 's1', liveMemoryBytes: undefined }), null, 'a flushed snapshot survives a host restart');
    assert.match(snapshotProblem(info, { ...facts, bootId: 'b2', flushedId: 's0' }) ?? '', /reached the disk/, 'the flush mark must name this snapshot');
  });

  it('refuses a missing, corrupted or truncated snapshot', () => {
    assert.match(snapshotProblem(info, { ...facts, stateBytes: undefined, stateSha256: undefined }) ?? '', /device state is missing/);
    assert.match(snapshotProblem(info, { ...facts, stateSha256: 'sha256:dd' }) ?? '', /device state is corrupted/);
    assert.match(snapshotProblem(info, { ...facts, stateBytes: 999 }) ?? '', /device state is corrupted/);
    assert.match(snapshotProblem(info, { ...facts, liveMemoryBytes: undefined }) ?? '', /memory file is missing or truncated/);
    assert.equal(snapshotProblem({ ...info, sharedMemory: false }, { ...facts, liveMemoryBytes: undefined, memoryBytes: undefined }), null, 'RAM in the stream needs no memory file');
  });

  it('takes the RAM from memory within the boot that took it, else from the disk once it was written out whole', () => {
    assert.equal(memorySource(info, facts), 'live', 'in memory: not waiting for the write-out');
    assert.equal(memorySource(info, { ...facts, liveMemoryBytes: undefined, flushedId: 's1' }), 'disk', 'written out and let go of');
    assert.equal(memorySource(info, { ...facts, liveMemoryBytes: undefined }), undefined, 'let go of before the write-out was marked');
    assert.equal(memorySource(info, { ...facts, liveMemoryBytes: undefined, flushedId: 's1', memoryBytes: 1 << 20 }), undefined, 'the disk copy truncated');
    assert.equal(memorySource(info, { ...facts, bootId: 'b2', flushedId: 's1' }), 'disk', 'a file in memory from another boot is not trusted');
    assert.match(snapshotProblem(info, { ...facts, liveMemoryBytes: 1 << 20 }) ?? '', /memory file is missing or truncated/);
  });
});

describe('a snapshot\'s identity names nothing of its host', () => {
  it('reads the CPU as its model and flags, whatever their order', () => {
    const cpu = (flags: string) => `processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: ${flags}\n\nprocessor\t: 1\nmodel name\t: other\nflags\t\t: x\n`;
    assert.match(cpuIdentity(cpu('sse2 avx2 fpu')), /^AMD EPYC 7B13\/[0-9a-f]{16}$/);
    assert.equal(cpuIdentity(cpu('sse2 avx2 fpu')), cpuIdentity(cpu('fpu sse2 avx2')));
    assert.notEqual(cpuIdentity(cpu('sse2 avx2 fpu')), cpuIdentity(cpu('sse2 fpu')), 'a flag fewer is another CPU');
    assert.match(cpuIdentity(''), /^unknown CPU\//);
  });

  it('names the machine\'s directory, the kernel and the volumes by what they are, so that the same VM on another host has the same layout', () => {
    const argv = (data: string) => portableArgv(
      ['-kernel', `${data}/assets/vmlinuz`, '-drive', `file=${data}/machines/m1/rootfs.qcow2,if=none`, '-drive', `file=${data}/volumes/vol_1.raw,if=none`,
        '-qmp', `unix:${data}/machines/m1/qmp.sock`, '-object', `memory-backend-file,mem-path=/dev/shm${data}/m1.ram`],
      { dir: `${data}/machines/m1`, liveMemory: `/dev/shm${data}/m1.ram`, forkMemory: `/dev/shm${data}/fork/m1.ram` }, `${data}/assets/vmlinuz`, [{ file: `${data}/volumes/vol_1.raw` }],
    );
    assert.deepEqual(argv('/var/lib/hangar'), argv('/srv/other-host'));
    assert.deepEqual(argv('/var/lib/hangar'), ['-kernel', '<kernel>', '-drive', 'file=<machine>/rootfs.qcow2,if=none', '-drive', 'file=<volume 0>,if=none', '-qmp', 'unix:<machine>/qmp.sock', '-object', 'memory-backend-file,mem-path=<memory>']);
  });
});
