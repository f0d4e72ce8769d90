import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { FailpointError, failpointsFrom, parseFailpoints } from '../../src/system/failpoints.ts';

const MODULE = new URL('../../src/system/failpoints.ts', import.meta.url).pathname;

/** A node process that loads the module as hangar does and passes `name`. */
function hit(name: string, env: string | undefined) {
  const script = `const { failpoint } = await import(${JSON.stringify(MODULE)}); failpoint(${JSON.stringify(name)}); console.log('passed');`;
  const environment = { ...process.env };
  delete environment.HANGAR_FAILPOINTS;
  if (env !== undefined) environment.HANGAR_FAILPOINTS = env;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: environment, encoding: 'utf8' });
}

describe('failpoints', () => {
  it('parses names and actions, crash by default, and refuses what it does not know', () => {
    assert.deepEqual([...parseFailpoints('suspend.after-stop=crash, resume.mid-load=error,destroy.after-kill')],
      [['suspend.after-stop', 'crash'], ['resume.mid-load', 'error'], ['destroy.after-kill', 'crash']]);
    assert.equal(parseFailpoints(undefined).size, 0);
    assert.equal(parseFailpoints('').size, 0);
    assert.throws(() => parseFailpoints('suspend.after-stpo=crash'), /unknown failpoint "suspend.after-stpo"/);
    assert.throws(() => parseFailpoints('suspend.after-stop=explode'), /action must be crash or error/);
  });

  it('does nothing at all when none is set', () => {
    const inert = failpointsFrom(new Map());
    assert.equal(inert('suspend.after-stop'), undefined);
    assert.equal(inert.length, 0, 'the inert failpoint does not even look at its name');
  });

  it('throws at an `error` failpoint and passes the others', () => {
    const fail = failpointsFrom(parseFailpoints('resume.after-load=error'));
    assert.throws(() => fail('resume.after-load'), FailpointError);
    assert.equal(fail('resume.after-consume'), undefined);
  });

  it('kills the process at a `crash` failpoint, read from HANGAR_FAILPOINTS, and only there', () => {
    const crashed = hit('suspend.after-stop', 'suspend.after-stop=crash');
    assert.equal(crashed.signal, 'SIGKILL');
    assert.match(crashed.stderr, /failpoint suspend.after-stop: crash/);
    assert.equal(crashed.stdout, '');
    assert.equal(hit('suspend.after-sync', 'suspend.after-stop=crash').stdout, 'passed\n');
    const unset = hit('suspend.after-stop', undefined);
    assert.deepEqual([unset.status, unset.stdout, unset.stderr], [0, 'passed\n', '']);
  });
});
