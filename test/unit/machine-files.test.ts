import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeConfig } from '../../src/domain/config.ts';
import { keepsRootfs, overlayArgv } from '../../src/vmm/qemu/machine-files.ts';

describe('machine rootfs', () => {
  const v1 = { version: 'v1', digest: 'sha256:aa' };
  const v2 = { version: 'v2', digest: 'sha256:aa' };
  const newImage = { version: 'v3', digest: 'sha256:bb' };

  it('keeps the writable rootfs as config.rootfs.persist says', () => {
    assert.equal(keepsRootfs('never', v1, v1), false, 'never: blank on every boot');
    assert.equal(keepsRootfs('restart', v1, v1), true, 'restart: kept while the version is the same');
    assert.equal(keepsRootfs('restart', v1, v2), false, 'restart: an update starts blank');
    assert.equal(keepsRootfs('always', v1, v2), true, 'always: kept across updates');
    assert.equal(keepsRootfs('always', v2, newImage), false, 'a new image always starts blank');
    assert.equal(keepsRootfs('always', undefined, v1), false, 'nothing to keep on the first boot');
  });

  it('accepts only Fly\'s persist values', () => {
    assert.equal(normalizeConfig({ image: 'a', rootfs: { persist: 'restart' } }).rootfs?.persist, 'restart');
    assert.throws(() => normalizeConfig({ image: 'a', rootfs: { persist: 'sometimes' } }), /config.rootfs.persist must be "" or "none" or "never" or "restart" or "always"/);
    assert.throws(() => normalizeConfig({ image: 'a', rootfs: 'always' }), /config.rootfs must be an object/);
  });

  it('builds a qcow2 overlay over the shared image', () => {
    assert.deepEqual(overlayArgv('/img/rootfs.ext4', '/m/rootfs.qcow2'), ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/img/rootfs.ext4', '/m/rootfs.qcow2']);
  });
});
