import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initConfigText, machineInitramfs } from '../../src/guest/init-config.ts';
import { carriedFiles, SANDBOX_AGENT_PATH, sandboxAgentInstalls } from '../../src/guest/sandbox-agent.ts';

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

  it('installs the sandbox agent, carried in the machine\'s initramfs, only for a machine whose process is the agent', () => {
    const installs = sandboxAgentInstalls([SANDBOX_AGENT_PATH, '-listen', '[::]:49983']);
    assert.deepEqual(installs, [{ source: '/hangar/envd', path: '/.hangar/envd', mode: 0o755 }]);
    assert.deepEqual(sandboxAgentInstalls(['/bin/sh', SANDBOX_AGENT_PATH]), []);
    const config = { hostname: 'm1', rootDevice: '/dev/vda', mounts: [], env: {}, argv: [SANDBOX_AGENT_PATH], files: [], installs, stop: { signal: 15, timeoutMs: 5000 } };
    assert.match(initConfigText(config), /^install L2hhbmdhci9lbnZk Ly5oYW5nYXIvZW52ZA== 755$/m);
    let reads = 0;
    const agent = Buffer.from('\x7fELF agent');
    const carried = carriedFiles(config, () => { reads++; return agent; });
    assert.deepEqual(carried, [{ path: 'hangar/envd', data: agent }]);
    assert.ok(machineInitramfs(config, carried).includes(agent), 'the archive holds the agent');
    assert.deepEqual(carriedFiles({ installs: [] }, () => { reads++; return agent; }), []);
    assert.equal(reads, 1, 'read only for a machine that runs it');
  });
});
