import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { processArgv, processEnv } from '../../src/domain/process-spec.ts';

describe('process argv (Docker override rules)', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['serve', '--port', '80'] };

  it('runs ENTRYPOINT + CMD by default', () => {
    assert.deepEqual(processArgv(image, {}), ['/entry', 'serve', '--port', '80']);
  });

  it('replaces CMD with init.cmd, keeping the entrypoint', () => {
    assert.deepEqual(processArgv(image, { cmd: ['migrate'] }), ['/entry', 'migrate']);
  });

  it('clears the image CMD when init.entrypoint is set, as Docker does', () => {
    assert.deepEqual(processArgv(image, { entrypoint: ['/bin/sh'] }), ['/bin/sh']);
    assert.deepEqual(processArgv(image, { entrypoint: ['/bin/sh'], cmd: ['-c', 'date'] }), ['/bin/sh', '-c', 'date']);
  });

  it('lets init.exec replace everything', () => {
    assert.deepEqual(processArgv(image, { exec: ['/bin/true'], entrypoint: ['/x'], cmd: ['y'] }), ['/bin/true']);
  });

  it('refuses an image with nothing to run', () => {
    assert.throws(() => processArgv({}, {}), /nothing to run/);
    assert.deepEqual(processArgv({ Cmd: ['/bin/sh'] }, {}), ['/bin/sh']);
  });
});

describe('process environment', () => {
  it('layers image env, config env and the machine variables', () => {
    const env = processEnv({ Env: ['PATH=/opt/bin', 'MODE=image', 'KEEP=1'] }, { MODE: 'config' }, {
      appName: 'web', machineId: '0123456789abcd', region: 'ams', privateIp: 'fdaa::2', imageRef: 'r.test/web:1', version: '01J',
    });
    assert.equal(env.PATH, '/opt/bin');
    assert.equal(env.MODE, 'config');
    assert.equal(env.KEEP, '1');
    for (const prefix of ['FLY_', 'HANGAR_']) {
      assert.equal(env[`${prefix}APP_NAME`], 'web');
      assert.equal(env[`${prefix}MACHINE_ID`], '0123456789abcd');
      assert.equal(env[`${prefix}REGION`], 'ams');
      assert.equal(env[`${prefix}PRIVATE_IP`], 'fdaa::2');
      assert.equal(env[`${prefix}IMAGE_REF`], 'r.test/web:1');
      assert.equal(env[`${prefix}MACHINE_VERSION`], '01J');
    }
  });

  it('passes on variables named like Object.prototype members, from the image and the config, as any other', () => {
    const configEnv = JSON.parse('{"__proto__":"config-proto","toString":"config-toString"}') as Record<string, string>;
    const env = processEnv({ Env: ['__proto__=image-proto', 'constructor=image-constructor', 'valueOf=image-valueOf'] }, configEnv, {
      appName: 'a', machineId: 'm', region: 'r', privateIp: 'p', imageRef: 'i', version: 'v',
    });
    const own = (key: string) => Object.getOwnPropertyDescriptor(env, key)?.value;
    assert.equal(own('__proto__'), 'config-proto');
    assert.equal(own('constructor'), 'image-constructor');
    assert.equal(own('valueOf'), 'image-valueOf');
    assert.equal(own('toString'), 'config-toString');
    assert.equal(Object.getPrototypeOf(env), Object.prototype);
  });

  it('gives a default PATH when the image has none', () => {
    assert.match(processEnv({}, {}, { appName: 'a', machineId: 'm', region: 'r', privateIp: 'p', imageRef: 'i', version: 'v' }).PATH ?? '', /\/usr\/bin/);
  });
});
