import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { type Cli, hangarForCli } from '../helpers/cli-run.ts';
import type { TestHangar } from '../helpers/hangar.ts';
import { HANGAR } from '../helpers/server-process.ts';

describe('hangar CLI', () => {
  let t: TestHangar;
  let cli: Cli;
  before(async () => { ({ t, cli } = await hangarForCli()); });
  after(() => t.close());

  it('creates and lists apps', async () => {
    assert.equal((await cli('apps', 'create', 'cli-app')).code, 0);
    const listed = await cli('apps', 'list');
    assert.match(listed.out, /^NAME\s+ORG\s+STATUS\s+MACHINES/);
    assert.match(listed.out, /cli-app\s+personal/);
  });

  it('destroys an app, taking flyctl\'s -y/--yes (hangar does not ask)', async () => {
    for (const [name, yes] of [['gone-a', '-y'], ['gone-b', '--yes']] as const) {
      assert.equal((await cli('apps', 'create', name)).code, 0);
      const destroyed = await cli('apps', 'destroy', name, yes);
      assert.equal(destroyed.code, 0, destroyed.err);
      assert.doesNotMatch((await cli('apps', 'list')).out, new RegExp(`${name}\\s`));
    }
  });

  it('runs a machine with flags that shape its config, and waits for it', async () => {
    const run = await cli('machine', 'run', '-a', 'cli-app', 'registry.test/web:1', '-n', 'web', '-e', 'A=1', '-e', 'B=2',
      '-p', '80:8080/tcp:http', '--autostop', 'suspend', '--vm-size', 'shared-cpu-2x', '--metadata', 'role=web', '--restart', 'always',
      '--', 'serve', '--port=9000');
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /Machine [0-9a-f]{14} \(web\) started/);
    const json = JSON.parse((await cli('m', 'ls', '-a', 'cli-app', '--json')).out);
    const shown = JSON.parse((await cli('machine', 'status', '-a', 'cli-app', json[0].id, '--json')).out);
    assert.equal(shown.state, 'started');
    assert.deepEqual(shown.config.env, { A: '1', B: '2' });
    assert.deepEqual(shown.config.init.cmd, ['serve', '--port=9000']);
    assert.deepEqual(shown.config.guest, { cpu_kind: 'shared', cpus: 2, memory_mb: 512 });
    assert.deepEqual(shown.config.services, [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], autostop: 'suspend' }]);
    assert.equal(shown.config.metadata.role, 'web');
    assert.equal(shown.config.restart.policy, 'always');
  });

  it("shows where the proxy serves an app's public ports", async () => {
    const shown = await cli('apps', 'ports', 'cli-app');
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, /^PORT\s+HANDLERS\s+LISTEN\s+HOST/);
    assert.match(shown.out, /\n80\s+http\s+-\s+cli-app\.localhost/, 'the proxy of this test hangar listens nowhere');
    const missing = await cli('apps', 'ports', 'nosuch');
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /nosuch/);
  });

  it('lists hosts with what their machines reserve, and cordons one', async () => {
    const host = t.hangar.control.settings.hostId;
    const listed = await cli('hosts', 'list');
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /^ID\s+REGION\s+STATUS\s+NUMBER\s+MACHINES\s+CPUS\s+MEMORY\s+ADDRESS/);
    assert.match(listed.out, new RegExp(String.raw`\n${host}\s+local \(any\)\s+up\s+a7b\s+1\s+2/unlimited\s+512 MB/unlimited\s+-`));
    assert.equal((await cli('hosts', 'cordon', host)).out, `host ${host} is cordoned\n`);
    assert.equal(JSON.parse((await cli('hosts', 'list', '--json')).out)[0].status, 'cordoned');
    assert.equal((await cli('hosts', 'uncordon', host)).out, `host ${host} is up\n`);
    const missing = await cli('hosts', 'cordon', 'nosuch');
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /host nosuch not found/);
  });

  it('drives the lifecycle: suspend, wait, start, stop, update, clone, fork, destroy', async () => {
    const { out } = await cli('machine', 'create', '-a', 'cli-app', 'registry.test/web:1', '--json');
    const id = JSON.parse(out).id as string;
    assert.equal((await cli('machine', 'start', '-a', 'cli-app', id)).code, 0);
    assert.match((await cli('machine', 'wait', '-a', 'cli-app', id, '--state', 'started')).out, /is started/);
    assert.equal((await cli('machine', 'suspend', '-a', 'cli-app', id)).code, 0);
    assert.match((await cli('machine', 'wait', '-a', 'cli-app', id, '--state', 'suspended')).out, /is suspended/);
    assert.equal((await cli('machine', 'start', '-a', 'cli-app', id)).code, 0);
    await cli('machine', 'wait', '-a', 'cli-app', id, '--state', 'started');
    const updated = await cli('machine', 'update', '-a', 'cli-app', id, '--vm-memory', '1024', '-e', 'C=3');
    assert.match(updated.out, /updated to version/);
    await cli('machine', 'wait', '-a', 'cli-app', id, '--state', 'started');
    const status = await cli('machine', 'status', '-a', 'cli-app', id);
    assert.match(status.out, /shared 1 cpu, 1024 MB/);
    assert.match(status.out, /replacing\s+update\s+user/);
    const clone = await cli('machine', 'clone', '-a', 'cli-app', id, '--name', 'copy');
    assert.match(clone.out, /\(copy\) cloned from/);
    const forked = await cli('machine', 'fork', '-a', 'cli-app', id, '--count', '2');
    assert.equal(forked.code, 0, forked.err);
    assert.equal(forked.out.match(new RegExp(`forked from ${id}`, 'g'))?.length, 2, forked.out);
    const child = /Machine ([0-9a-f]{14})/.exec(forked.out)?.[1] ?? '';
    assert.match((await cli('machine', 'status', '-a', 'cli-app', child)).out, /started/);
    assert.notEqual((await cli('machine', 'fork', '-a', 'cli-app', id, '--count', '99')).code, 0);
    assert.equal((await cli('machine', 'stop', '-a', 'cli-app', id, '--signal', 'SIGTERM', '--timeout', '2s')).code, 0);
    await cli('machine', 'wait', '-a', 'cli-app', id, '--state', 'stopped');
    assert.equal((await cli('machine', 'destroy', '-a', 'cli-app', id)).code, 0);
    assert.match((await cli('machine', 'list', '-a', 'cli-app', '--all')).out, new RegExp(`${id}\\s+\\S+\\s+(destroying|destroyed)`));
  });

  it('execs, returning the command\'s exit code, and manages metadata and leases', async () => {
    const { out } = await cli('machine', 'run', '-a', 'cli-app', 'registry.test/web:1', '--json');
    const id = JSON.parse(out).id as string;
    const echo = await cli('machine', 'exec', '-a', 'cli-app', id, 'echo', 'hi', 'there');
    assert.equal(echo.out, 'hi there\n');
    assert.equal((await cli('machine', 'exec', '-a', 'cli-app', id, 'false')).code, 1);
    await cli('machine', 'metadata', 'set', '-a', 'cli-app', id, 'tier', 'gold');
    assert.equal((await cli('machine', 'metadata', 'get', '-a', 'cli-app', id, 'tier')).out, 'gold\n');
    assert.match((await cli('machine', 'metadata', 'list', '-a', 'cli-app', id)).out, /tier\s+gold/);
    await cli('machine', 'metadata', 'delete', '-a', 'cli-app', id, 'tier');
    assert.equal((await cli('machine', 'metadata', 'get', '-a', 'cli-app', id, 'tier')).code, 1);
    await t.call('POST', `/v1/apps/cli-app/machines/${id}/lease`, { ttl: 60, description: 'held' });
    assert.match((await cli('machine', 'leases', 'view', '-a', 'cli-app', id)).out, /hangar\s+held/);
    assert.equal((await cli('machine', 'cordon', '-a', 'cli-app', id)).code, 1);
    assert.equal((await cli('machine', 'leases', 'clear', '-a', 'cli-app', id)).code, 0);
    assert.equal((await cli('machine', 'cordon', '-a', 'cli-app', id)).code, 0);
    assert.equal((await cli('machine', 'kill', '-a', 'cli-app', id)).code, 0);
    const logs = await cli('machine', 'logs', '-a', 'cli-app', id, '-n', '5');
    assert.match(logs.out, /^fake: booted registry.test\/web:1 \(version \w+, boot 1\)$/m);
  });

  it('mints, lists and revokes E2B keys, and makes, lists and deletes templates', async () => {
    const key = await cli('e2b', 'keys', 'create', '--name', 'laptop', '--org', 'acme');
    assert.equal(key.code, 0);
    const [printed, said] = key.out.trim().split('\n') as [string, string];
    assert.match(printed, /^e2b_[0-9a-f]{40}$/);
    const id = /^key ([0-9a-f]{12}) of org acme/.exec(said)?.[1] ?? '';
    assert.notEqual(id, '');
    assert.match((await cli('e2b', 'keys', 'list')).out, new RegExp(`${id}\\s+laptop\\s+acme`));
    assert.equal((await cli('e2b', 'templates', 'create', 'py', '--image', 'registry.test/py:3', '--cpus', '1', '--memory-mb', '256', '--snapshot')).code, 0);
    const listed = await cli('e2b', 'templates', 'list');
    assert.match(listed.out, /^TEMPLATE\s+IMAGE\s+CPUS\s+MEMORY\s+USER\s+WORKDIR\s+FROM/);
    assert.match(listed.out, /py\s+registry\.test\/py:3\s+1\s+256 MB\s+image, forked/);
    assert.equal((await cli('e2b', 'templates', 'delete', 'py')).code, 0);
    assert.doesNotMatch((await cli('e2b', 'templates', 'list')).out, /registry\.test\/py/);
    assert.equal((await cli('e2b', 'keys', 'revoke', id)).code, 0);
    assert.doesNotMatch((await cli('e2b', 'keys', 'list')).out, new RegExp(id));
  });

  it('reports API errors with the message and exits 1; usage errors exit non-zero', async () => {
    const missing = await cli('machine', 'status', '-a', 'cli-app', 'ffffffffffffff');
    assert.equal(missing.code, 1);
    assert.match(missing.err, /Error: machine not found/);
    const noApp = await cli('machine', 'list');
    assert.notEqual(noApp.code, 0);
    assert.match(noApp.err, /required option '-a, --app/);
    const proto = await cli('machine', 'run', '-a', 'cli-app', 'registry.test/web:1', '-e', '__proto__=x', '-e', 'constructor=y');
    assert.equal(proto.code, 1, 'the variable reaches the server, which refuses it');
    assert.match(proto.err, /"__proto__" at config\.env/);
  });

  it('runs as ./hangar with the project Node and says when the server is unreachable', async () => {
    const run = promisify(execFile);
    const help = await run(HANGAR, ['--help']);
    assert.match(help.stdout, /machine\|machines/);
    await assert.rejects(
      run(HANGAR, ['apps', 'list'], { env: { ...process.env, HANGAR_API_URL: 'http://127.0.0.1:9', HANGAR_API_TOKEN: 'x' } }),
      (error: { code: number; stderr: string }) => error.code === 1 && /cannot reach hangar/.test(error.stderr),
    );
  });
});
