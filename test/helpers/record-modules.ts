/**
 * Preloaded with `--import` (through NODE_OPTIONS): records the URL of every module the
 * process loads, ES modules and require()d CommonJS alike, and at exit writes them, one
 * a line, to the file named by $HANGAR_RECORD_MODULES.
 */
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env.HANGAR_RECORD_MODULES;
const loaded: string[] = [];
registerHooks({
  load(url, context, nextLoad) {
    loaded.push(url);
    return nextLoad(url, context);
  },
});
process.on('exit', () => {
  if (out) writeFileSync(out, `${loaded.join('\n')}\n`);
});
