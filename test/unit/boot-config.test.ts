import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeConfig } from '../../src/domain/config.ts';
import { parseImageRef } from '../../src/domain/image-ref.ts';
import type { MachineSpec } from '../../src/domain/runtime.ts';
import { machineInitConfig, type PreparedImage } from '../../src/vmm/qemu/boot-config.ts';

const image = 'registry.test/app:1';
const prepared: PreparedImage = { version: 'v1', rootfsPath: '/x', imageRef: parseImageRef(image), config: { Env: ['FROM_IMAGE=i', 'DB=image'], Cmd: ['/app'] } };
const spec = (config: Record<string, unknown>, secrets?: Record<string, string>): MachineSpec => ({
  machineId: 'a1b2c3d4e5f607', appName: 'app', name: 'm', region: 'local', version: 'v1', imageRef: parseImageRef(image),
  privateIp: 'fdaa:0:1:a7b::2', config: normalizeConfig({ image, ...config }), ...(secrets ? { secrets } : {}),
});

describe('a boot\'s init config', () => {
  it('gives the process the app\'s secrets over the image\'s and the config\'s env, under the machine\'s own variables', () => {
    const init = machineInitConfig(spec({ env: { DB: 'config', KEEP: 'k' } }, { DB: 'secret', TOKEN: 't', FLY_APP_NAME: 'spoof' }), prepared, [], undefined);
    assert.equal(init.env.DB, 'secret');
    assert.equal(init.env.TOKEN, 't');
    assert.equal(init.env.KEEP, 'k');
    assert.equal(init.env.FROM_IMAGE, 'i');
    assert.equal(init.env.FLY_APP_NAME, 'app', 'a secret does not stand in for the machine\'s identity');
  });

  it('takes only the secrets a process names, or none with ignore_app_secrets', () => {
    const named = machineInitConfig(spec({ processes: [{ secrets: [{ env_var: 'DATABASE_URL', name: 'DB' }, { env_var: 'TOKEN' }] }] }, { DB: 's', TOKEN: 't', OTHER: 'o' }), prepared, [], undefined);
    assert.deepEqual([named.env.DATABASE_URL, named.env.TOKEN, named.env.OTHER, named.env.DB], ['s', 't', undefined, 'image']);
    const none = machineInitConfig(spec({ processes: [{ ignore_app_secrets: true }] }, { TOKEN: 't' }), prepared, [], undefined);
    assert.equal(none.env.TOKEN, undefined);
  });

  it('writes files from secrets (their values are base64), and refuses a boot whose file names a secret the app lacks', () => {
    const files = [{ guest_path: '/etc/cert.pem', secret_name: 'CERT', mode: 0o600 }];
    const init = machineInitConfig(spec({ files }, { CERT: Buffer.from('-----BEGIN-----').toString('base64') }), prepared, [], undefined);
    assert.deepEqual(init.files.map((file) => [file.path, file.mode, file.content.toString()]), [['/etc/cert.pem', 0o600, '-----BEGIN-----']]);
    assert.throws(() => machineInitConfig(spec({ files }, {}), prepared, [], undefined), /config\.files\[0\]\.secret_name: the app has no secret "CERT"/);
    assert.throws(() => machineInitConfig(spec({ files }, { CERT: 'not base64!' }), prepared, [], undefined), /does not hold base64/);
  });
});
