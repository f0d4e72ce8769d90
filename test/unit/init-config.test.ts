import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initConfigText } from '../../src/guest/init-config.ts';

describe('hangar-init config', () => {
  it('writes one line per setting, base64 where values are free text', () => {
    const text = initConfigText({
      hostname: 'm1',
      rootDevice: '/dev/vda',
      mounts: [{ device: '/dev/vdb', path: '/data' }],
      net: { ifname: 'eth0', ipv6: 'fdaa:0:1:a7b:0:1:0:2/112', gateway6: 'fdaa:0:1:a7b:0:1:0:1' },
      env: { A: 'x y', EMPTY: '' },
      argv: ['/bin/sh', '-c', '', 'echo hi'],
      workdir: '/app',
      user: 'nobody',
      files: [{ path: '/etc/motd', mode: 0o640, content: Buffer.from('hi\n') }],
      stop: { signal: 15, timeoutMs: 5000 },
    });
    assert.equal(text, [
      'hostname bTE=',
      'root /dev/vda',
      'mount /dev/vdb L2RhdGE=',
      'net eth0 fdaa:0:1:a7b:0:1:0:2/112 fdaa:0:1:a7b:0:1:0:1 - -',
      'env QT14IHk=',
      'env RU1QVFk9',
      'arg L2Jpbi9zaA==',
      'arg LWM=',
      'arg -',
      'arg ZWNobyBoaQ==',
      'workdir L2FwcA==',
      'user bm9ib2R5',
      'file L2V0Yy9tb3Rk 640 aGkK',
      'stop 15 5000',
      '',
    ].join('\n'));
  });
});
