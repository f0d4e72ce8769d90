/** `hangar fly-env`: the environment that points `fly` at this hangar, with the switches that keep its token from Fly's hosts. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { cliWith } from '../helpers/cli-run.ts';

describe('hangar fly-env', () => {
  it('prints exports a shell takes: the three bases, the token, a config dir of its own, and the switches', async () => {
    const run = await cliWith({ HANGAR_API_URL: 'http://10.0.0.5:4280/', HANGAR_API_TOKEN: "hgr_it's" })('fly-env');
    assert.equal(run.code, 0, run.err);
    const shell = execFileSync('sh', ['-c', `${run.out}\nenv`], { env: { HOME: '/home/op', PATH: process.env.PATH } }).toString();
    const env = Object.fromEntries(shell.split('\n').filter((line) => line.startsWith('FLY_')).map((line) => line.split(/=(.*)/s).slice(0, 2)));
    assert.deepEqual(env, {
      FLY_API_BASE_URL: 'http://10.0.0.5:4280', FLY_UIEX_BASE_URL: 'http://10.0.0.5:4280', FLY_FLAPS_BASE_URL: 'http://10.0.0.5:4280',
      FLY_API_TOKEN: "hgr_it's", FLY_CONFIG_DIR: '/home/op/.fly-hangar', FLY_SEND_METRICS: '0', FLY_TRACE_COLLECTOR_URL: '127.0.0.1',
      FLY_NO_UPDATE_CHECK: '1', FLY_NO_INCIDENTS_CHECK: '1', FLY_SYNTHETICS_AGENT: '0',
    });
  });
});
