/** The CLI run in process, its output kept: against a test hangar listening on loopback, or against nothing. */
import type { Io } from '../../src/cli/output.ts';
import { runCli } from '../../src/cli/program.ts';
import { testHangar, TOKEN, type TestHangar, type TestOptions } from './hangar.ts';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export type Cli = (...argv: string[]) => Promise<CliRun>;

/** The CLI with this environment (an API that is not there, unless given). */
export function cliWith(env: Record<string, string>): Cli {
  return async (...argv) => {
    let out = '';
    let err = '';
    const io: Io = { out: (s) => { out += `${s}\n`; }, err: (s) => { err += `${s}\n`; }, env: { HANGAR_API_URL: 'http://127.0.0.1:9', HANGAR_API_TOKEN: TOKEN, ...env } };
    return { code: await runCli(argv, io), out, err };
  };
}

/** A test hangar listening on a loopback port, and the CLI pointed at it. */
export async function hangarForCli(options: TestOptions = {}): Promise<{ t: TestHangar; url: string; cli: Cli }> {
  const t = await testHangar(options);
  await t.hangar.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.hangar.app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { t, url, cli: cliWith({ HANGAR_API_URL: url, HANGAR_DATA_DIR: t.dir }) };
}
