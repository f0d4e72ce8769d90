import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SecretKeys } from '../../src/system/secret-keys.ts';

const key = () => randomBytes(32).toString('base64');

describe('secret keys', () => {
  it('seals a value that only its app and name open, and never holds it in clear', () => {
    const keys = SecretKeys.parse(key(), 'test');
    const sealed = keys.seal('app1', 'DATABASE_URL', 'postgres://canary-1234');
    assert.ok(!sealed.includes('canary'), 'the sealed text does not hold the value');
    assert.notEqual(keys.seal('app1', 'DATABASE_URL', 'postgres://canary-1234'), sealed, 'each seal has a nonce of its own');
    assert.equal(keys.open('app1', 'DATABASE_URL', sealed), 'postgres://canary-1234');
    assert.throws(() => keys.open('app2', 'DATABASE_URL', sealed), /altered, or sealed for another app or name/);
    assert.throws(() => keys.open('app1', 'OTHER', sealed), /altered, or sealed for another app or name/);
    const [format, id, body] = sealed.split(':');
    const flipped = Buffer.from(body!, 'base64');
    flipped[flipped.length - 20]! ^= 1;
    assert.throws(() => keys.open('app1', 'DATABASE_URL', `${format}:${id}:${flipped.toString('base64')}`), /altered/);
    assert.throws(() => keys.open('app1', 'DATABASE_URL', `${format}:${id}:AAAA`), /cut short/);
    assert.throws(() => keys.open('app1', 'DATABASE_URL', 'plain text'), /not sealed as hangar seals/);
  });

  it('rotates: a ring with a new key first seals with it and still opens what the old key sealed', () => {
    const [old, fresh] = [key(), key()];
    const before = SecretKeys.parse(old, 'old');
    const sealed = before.seal('app', 'TOKEN', 'v');
    const during = SecretKeys.parse(`${fresh}\n${old}\n`, 'ring');
    assert.equal(during.open('app', 'TOKEN', sealed), 'v');
    assert.equal(during.sealedWithCurrent(sealed), false, 'it is to be sealed again');
    const resealed = during.seal('app', 'TOKEN', 'v');
    assert.equal(during.sealedWithCurrent(resealed), true);
    const after = SecretKeys.parse(fresh, 'new');
    assert.equal(after.open('app', 'TOKEN', resealed), 'v');
    assert.throws(() => after.open('app', 'TOKEN', sealed), /not in the keyring/, 'once dropped, the old key opens nothing');
    assert.ok(!sealed.includes(old) && !sealed.includes(before.sealingKeyId.repeat(3)), 'the id names the key without being it');
  });

  it('refuses keys that are not 32 bytes of base64, and a keyring with none', () => {
    assert.throws(() => SecretKeys.parse('', 'env'), /holds no secrets key/);
    assert.throws(() => SecretKeys.parse(randomBytes(16).toString('base64'), 'env'), /key 1 is not 32 bytes/);
    assert.throws(() => SecretKeys.parse(`${key()},not-base64!!`, 'env'), /key 2 is not 32 bytes/);
    assert.equal(SecretKeys.parse(`# the key\n${key()}\n`, 'file').sealingKeyId.length, 12);
  });

  it('makes a key file readable by its owner alone when asked to, and reads it back the same', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-keys-'));
    try {
      const path = join(dir, 'secrets.key');
      assert.throws(() => SecretKeys.inFile(path, { create: false }), /no secrets key file/);
      const made = SecretKeys.inFile(path, { create: true });
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(SecretKeys.inFile(path, { create: true }).sealingKeyId, made.sealingKeyId, 'an existing file is kept');
      assert.equal(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64').length, 32);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('digests values by app, keyed, the same each time', () => {
    const keys = SecretKeys.parse(key(), 'test');
    assert.equal(keys.digest('a', 'x'), keys.digest('a', 'x'));
    assert.notEqual(keys.digest('a', 'x'), keys.digest('b', 'x'));
    assert.notEqual(keys.digest('a', 'x'), SecretKeys.parse(key(), 'other').digest('a', 'x'), 'another key, another digest');
    assert.match(keys.digest('a', 'x'), /^[0-9a-f]{16}$/);
  });
});
