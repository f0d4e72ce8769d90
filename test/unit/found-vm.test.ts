import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foundVmAction, shutdownReason } from '../../src/vmm/qemu/found-vm.ts';

const facts = (status: string, more: { migration?: string; incoming?: boolean; stateSaved?: boolean } = {}) =>
  foundVmAction({ status, incoming: false, stateSaved: false, ...more }).do;

describe('what hangar does with a VM it finds after a restart, by what QEMU says', () => {
  it('keeps a VM that runs', () => {
    assert.equal(facts('running'), 'keep');
    assert.equal(facts('running', { incoming: true, migration: 'completed' }), 'keep');
  });

  it('records a suspend whose state was saved whole, and continues one that was not', () => {
    assert.equal(facts('postmigrate', { migration: 'completed', stateSaved: true }), 'commit');
    assert.equal(facts('postmigrate', { migration: 'completed', stateSaved: true, incoming: true }), 'commit', 'a resumed VM suspended again');
    assert.equal(facts('postmigrate', { migration: 'completed' }), 'continue', 'saved, but the file not known whole');
  });

  it('continues a VM hangar had paused: for a suspend (any migration outcome), or loaded by a resume', () => {
    assert.equal(facts('paused'), 'continue');
    assert.equal(facts('paused', { migration: 'failed' }), 'continue');
    assert.equal(facts('paused', { migration: 'active' }), 'continue');
    assert.equal(facts('paused', { migration: 'completed', incoming: true }), 'continue');
  });

  it('ends a VM that never loaded its state, one paused on a disk error, and anything else', () => {
    const never = foundVmAction({ status: 'inmigrate', incoming: true, stateSaved: false });
    assert.equal(never.do, 'end');
    assert.match(never.do === 'end' ? never.why : '', /before QEMU had loaded the VM state/);
    assert.equal(facts('io-error'), 'end');
    assert.equal(facts('internal-error'), 'end');
    assert.equal(facts('shutdown'), 'end');
  });

  it('says why QEMU ended when the machine\'s process had not', () => {
    assert.match(shutdownReason(undefined), /killed or crashed/);
    assert.match(shutdownReason('guest-panic'), /panicked/);
  });
});
