/**
 * Builds the web console into console/dist: the page, its stylesheet, and one
 * bundle (esbuild, Preact's JSX) that loads nothing from anywhere else. Run by
 * scripts/setup.sh; `node console/build.ts`.
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const out = here('./dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [here('./src/main.tsx')],
  outfile: `${out}/console.js`,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'console.css']) copyFileSync(here(`./src/${file}`), `${out}/${file}`);
