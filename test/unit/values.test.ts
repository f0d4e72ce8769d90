import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeConfig } from '../../src/domain/config.ts';
import { formatGoDuration, parseDurationInput, parseGoDuration } from '../../src/domain/duration.ts';
import { guestForSize } from '../../src/domain/guest.ts';
import { parseImageRef, pinnedReference } from '../../src/domain/image-ref.ts';
import { acquireLease, checkLease, releaseLease } from '../../src/domain/lease.ts';
import { parseSignal } from '../../src/domain/signals.ts';
import { parseWaitTargets, parseWaitTimeout, satisfies } from '../../src/domain/wait.ts';

describe('durations', () => {
  it('parses Go duration strings', () => {
    assert.equal(parseGoDuration('10s', 'f'), 10_000);
    assert.equal(parseGoDuration('1h2m3.5s', 'f'), 3_723_500);
    assert.equal(parseGoDuration('300ms', 'f'), 300);
    assert.throws(() => parseGoDuration('10 parsecs', 'f'), /invalid duration/);
    assert.throws(() => parseGoDuration('-1s', 'f'), /negative/);
  });

  it('reads bare numbers as nanoseconds in configs and seconds in requests', () => {
    assert.equal(parseDurationInput(15_000_000_000, 'f', 'ns'), 15_000);
    assert.equal(parseDurationInput(15, 'f', 's'), 15_000);
    assert.equal(parseDurationInput('15', 'f', 's'), 15_000);
  });

  it('formats milliseconds back to Go strings', () => {
    assert.equal(formatGoDuration(15_000), '15s');
    assert.equal(formatGoDuration(90_000), '1m30s');
    assert.equal(formatGoDuration(250), '250ms');
    assert.equal(formatGoDuration(3_723_500), '1h2m3.5s');
  });
});

describe('signals', () => {
  it('accepts names, short names and numbers', () => {
    assert.equal(parseSignal('SIGTERM'), 'SIGTERM');
    assert.equal(parseSignal('term'), 'SIGTERM');
    assert.equal(parseSignal(9), 'SIGKILL');
    assert.equal(parseSignal('9'), 'SIGKILL');
    assert.throws(() => parseSignal(99), /unknown signal/);
  });
});

describe('sizes and guest', () => {
  it('expands named sizes', () => {
    assert.deepEqual(guestForSize('shared-cpu-2x'), { cpu_kind: 'shared', cpus: 2, memory_mb: 512 });
    assert.deepEqual(guestForSize('performance-2x'), { cpu_kind: 'performance', cpus: 2, memory_mb: 4096 });
    assert.throws(() => guestForSize('huge-cpu-3x'), /unknown size/);
  });

  it('knows every CPU size flyctl offers (fly-go MachinePresets), and no others', () => {
    for (const cpus of [1, 2, 4, 6, 8]) assert.deepEqual(guestForSize(`shared-cpu-${cpus}x`), { cpu_kind: 'shared', cpus, memory_mb: cpus * 256 });
    for (const cpus of [1, 2, 4, 6, 8, 10, 12, 14, 16]) {
      assert.deepEqual(guestForSize(`performance-${cpus}x`), { cpu_kind: 'performance', cpus, memory_mb: cpus * 2048 });
      assert.equal(normalizeConfig({ image: 'a', guest: { cpu_kind: 'performance', cpus, memory_mb: cpus * 2048 } }).guest.cpus, cpus);
    }
    assert.throws(() => guestForSize('shared-cpu-16x'), /unknown size/);
    assert.throws(() => guestForSize('performance-3x'), /unknown size/);
    assert.throws(() => normalizeConfig({ image: 'a', guest: { cpu_kind: 'shared', cpus: 16 } }), /guest.cpus must be one of 1, 2, 4, 6, 8 for cpu_kind shared/);
    assert.throws(() => normalizeConfig({ image: 'a', guest: { gpu_kind: 'a100-pcie-40gb', gpus: 1 } }), /no GPUs/);
  });

  it('normalizes a config: size expanded, init present, defaults filled', () => {
    const config = normalizeConfig({ image: 'a', size: 'shared-cpu-4x' });
    assert.deepEqual(config.guest, { cpu_kind: 'shared', cpus: 4, memory_mb: 1024 });
    assert.equal('size' in config, false);
    assert.deepEqual(config.init, {});
    assert.deepEqual(normalizeConfig({ image: 'a' }).guest, { cpu_kind: 'shared', cpus: 1, memory_mb: 256 });
  });

  it('rejects memory that is not a multiple of 256, and missing images', () => {
    assert.throws(() => normalizeConfig({ image: 'a', guest: { memory_mb: 300 } }), /multiple of 256/);
    assert.throws(() => normalizeConfig({ guest: {} }), /config.image is required/);
    assert.throws(() => normalizeConfig({ image: 'a', guest: { cpus: 3 } }), /cpus/);
  });

  it('stores autostop as false/true/"suspend" and durations as Go strings', () => {
    const config = normalizeConfig({
      image: 'a',
      services: [
        { protocol: 'tcp', internal_port: 8080, autostop: 'off' },
        { protocol: 'tcp', internal_port: 8081, autostop: 'stop' },
        { protocol: 'tcp', internal_port: 8082, autostop: 'suspend' },
      ],
      checks: { alive: { type: 'tcp', port: 8080, interval: 15_000_000_000, timeout: '2s' } },
      stop_config: { signal: 'TERM', timeout: 5_000_000_000 },
    });
    assert.deepEqual(config.services?.map((s) => s.autostop), [false, true, 'suspend']);
    assert.deepEqual(config.checks?.alive, { type: 'tcp', port: 8080, interval: '15s', timeout: '2s' });
    assert.deepEqual(config.stop_config, { signal: 'SIGTERM', timeout: '5s' });
    assert.throws(() => normalizeConfig({ image: 'a', services: [{ internal_port: 8080, autostop: 'sometimes' }] }), /autostop/);
  });

  it('checks restart policies, mounts and files', () => {
    assert.equal(normalizeConfig({ image: 'a', restart: { policy: 'always' } }).restart?.policy, 'always');
    assert.throws(() => normalizeConfig({ image: 'a', restart: { policy: 'sometimes' } }), /restart.policy/);
    assert.throws(() => normalizeConfig({ image: 'a', mounts: [{ volume: 'v', path: '/a' }, { volume: 'w', path: '/b' }] }), /only one volume/);
    assert.throws(() => normalizeConfig({ image: 'a', files: [{ guest_path: 'rel', raw_value: 'aGk=' }] }), /absolute/);
    assert.throws(() => normalizeConfig({ image: 'a', files: [{ guest_path: '/x', raw_value: '%%%' }] }), /base64/);
  });
});

describe('image references', () => {
  it('applies Docker defaults', () => {
    assert.deepEqual(parseImageRef('nginx'), { registry: 'docker.io', repository: 'library/nginx', tag: 'latest', digest: '', labels: {} });
    const ref = parseImageRef('127.0.0.1:5000/team/app:1.2');
    assert.deepEqual([ref.registry, ref.repository, ref.tag], ['127.0.0.1:5000', 'team/app', '1.2']);
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseImageRef(`ghcr.io/o/app@${digest}`).digest, digest);
    assert.throws(() => parseImageRef('UPPER/case'), /invalid repository/);
  });

  it('reads local images in skopeo\'s transport syntax', () => {
    assert.deepEqual(parseImageRef('oci:/srv/images/web:v2'), { registry: 'oci', repository: '/srv/images/web', tag: 'v2', digest: '', labels: {} });
    assert.deepEqual(parseImageRef('oci:/srv/images/web').tag, '');
    const archive = parseImageRef('docker-archive:/tmp/web.tar:example/web:1');
    assert.deepEqual([archive.registry, archive.repository, archive.tag], ['docker-archive', '/tmp/web.tar', 'example/web:1']);
    assert.throws(() => parseImageRef('oci:images/web'), /needs an absolute path/);
    assert.throws(() => parseImageRef('oci:/srv/../etc'), /must not contain/);
    assert.equal(pinnedReference({ ...archive, digest: 'sha256:ab' }), 'docker-archive:/tmp/web.tar@sha256:ab');
    assert.equal(pinnedReference({ ...parseImageRef('ghcr.io/o/app:1'), digest: 'sha256:ab' }), 'ghcr.io/o/app@sha256:ab');
  });
});

describe('leases', () => {
  const request = { machineId: 'm', ttlSeconds: 10, description: 'deploy', owner: 'alice' };

  it('grants a free machine, refuses another holder, refreshes with the nonce', () => {
    const lease = acquireLease(null, request, 0, 'n1');
    assert.equal(lease.expiresAt, 10_000);
    assert.throws(() => acquireLease(lease, request, 5000, 'n2'), /lease currently held by alice/);
    const refreshed = acquireLease(lease, { ...request, nonce: 'n1' }, 5000, 'n2');
    assert.equal(refreshed.nonce, 'n1');
    assert.equal(refreshed.expiresAt, 15_000);
  });

  it('honours expiry', () => {
    const lease = acquireLease(null, request, 0, 'n1');
    assert.doesNotThrow(() => checkLease('m', lease, undefined, 10_001));
    assert.throws(() => checkLease('m', lease, undefined, 9_999), /lease currently held/);
    assert.equal(acquireLease(lease, request, 10_001, 'n2').nonce, 'n2');
    assert.throws(() => releaseLease('m', lease, 'n1', 10_001), /lease not found/);
  });
});

describe('wait targets', () => {
  it('parses repeated and comma-separated states', () => {
    assert.deepEqual(parseWaitTargets(undefined), ['started']);
    assert.deepEqual(parseWaitTargets(['started,stopped', 'suspended']), ['started', 'stopped', 'suspended']);
    assert.throws(() => parseWaitTargets('sleeping'), /invalid state/);
    assert.throws(() => parseWaitTimeout('61'), /1 to 60/);
    assert.equal(parseWaitTimeout(undefined), 60);
  });

  it('treats settled as any non-transient state and replaced as stopped', () => {
    assert.equal(satisfies('stopped', ['settled']), true);
    assert.equal(satisfies('stopping', ['settled']), false);
    assert.equal(satisfies('replaced', ['stopped']), true);
  });
});
