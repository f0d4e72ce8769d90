import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Cli, hangarForCli } from '../helpers/cli-run.ts';
import type { TestHangar } from '../helpers/hangar.ts';

describe('hangar secrets', () => {
  let t: TestHangar;
  let cli: Cli;
  before(async () => { ({ t, cli } = await hangarForCli()); });
  after(() => t.close());
  const boots = (id: string) => t.driver.calls.filter((call) => call.op === 'launch' && call.machineId === id).length;
  const printenv = async (id: string, name: string) => (await t.call('POST', `/v1/apps/sec-cli/machines/${id}/exec`, { command: ['printenv', name] })).body.stdout.trim();

  it('sets secrets and restarts the started machines in turn; --stage waits for `secrets deploy`', async () => {
    await t.app('sec-cli');
    const [a, b] = [await t.machine('sec-cli'), await t.machine('sec-cli')];
    await t.waitFor('sec-cli', a.id, 'started');
    await t.waitFor('sec-cli', b.id, 'started');
    const set = await cli('secrets', 'set', '-a', 'sec-cli', 'TOKEN=t1', 'DB=postgres://x');
    assert.equal(set.code, 0, set.err);
    assert.match(set.out, /version 1/);
    assert.match(set.out, /Restarting machine [0-9a-f]{14} \[2\/2\]/);
    assert.deepEqual([await printenv(a.id, 'TOKEN'), await printenv(b.id, 'DB')], ['t1', 'postgres://x']);

    const bootsBefore = boots(a.id);
    const staged = await cli('secrets', 'set', '-a', 'sec-cli', '--stage', 'TOKEN=t2');
    assert.equal(staged.code, 0, staged.err);
    assert.doesNotMatch(staged.out, /Restarting/);
    assert.equal(await printenv(a.id, 'TOKEN'), 't1', 'staged: the machines run on with what they had');
    const deployed = await cli('secrets', 'deploy', '-a', 'sec-cli');
    assert.equal(deployed.code, 0, deployed.err);
    assert.equal(boots(a.id), bootsBefore + 1);
    assert.equal(await printenv(a.id, 'TOKEN'), 't2');
  });

  it('lists names and digests, never values; unsets; names suspended machines that keep what they had', async () => {
    const listed = await cli('secrets', 'list', '-a', 'sec-cli');
    assert.match(listed.out, /^NAME\s+DIGEST\s+UPDATED/);
    assert.match(listed.out, /\nDB\s+[0-9a-f]{16}\s/);
    assert.ok(!listed.out.includes('postgres://x') && !listed.out.includes('t2'));
    const [machine] = (await t.call('GET', '/v1/apps/sec-cli/machines')).body;
    await t.call('POST', `/v1/apps/sec-cli/machines/${machine.id}/suspend`);
    await t.waitFor('sec-cli', machine.id, 'suspended');
    const unset = await cli('secrets', 'unset', '-a', 'sec-cli', 'DB');
    assert.equal(unset.code, 0, unset.err);
    assert.match(unset.out, new RegExp(`1 suspended machine\\(s\\) keep the values they booted with .*${machine.id}`));
    assert.doesNotMatch((await cli('secrets', 'list', '-a', 'sec-cli')).out, /\nDB\s/);
  });

  it('refuses a pair without a name, without quoting it; rekeys', async () => {
    const bad = await cli('secrets', 'set', '-a', 'sec-cli', 'just-a-secret-value');
    assert.notEqual(bad.code, 0);
    assert.ok(!bad.err.includes('just-a-secret-value'), bad.err);
    const rekey = await cli('secrets', 'rekey');
    assert.equal(rekey.code, 0, rekey.err);
    assert.match(rekey.out, /0 secret\(s\) of 1 app\(s\) sealed again/);
  });
});
