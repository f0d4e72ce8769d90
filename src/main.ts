/** Entry point of the `hangar` executable: the only place that exits the process. */
import { runCli } from './cli/program.ts';
import { processIo } from './cli/output.ts';

process.exitCode = await runCli(process.argv.slice(2), processIo);
if (process.argv[2] !== 'serve') process.exit(process.exitCode);
