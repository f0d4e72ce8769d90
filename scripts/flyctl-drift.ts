/**
 * Drift check: do a fly-go and a flyctl (newer, perhaps) still send the GraphQL
 * operations hangar answers? For each operation in test/fixtures/flyctl-graphql.ts it
 * reads the file it was transcribed from, finds the operation there (the literal
 * whose root fields and aliases are the fixture's), and says whether it is the same
 * (whitespace aside) and whether it validates against hangar's schema. Exit 1 on
 * any difference.
 *
 *   node scripts/flyctl-drift.ts FLY_GO FLYCTL   (each a checkout, or a bare git dir, read at HEAD)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, parse, print, validate } from 'graphql';
import { SCHEMA_SDL } from '../src/api/graphql/schema.ts';
import { FLYCTL_OPERATIONS } from '../test/fixtures/flyctl-graphql.ts';

const [flyGo, flyctl] = process.argv.slice(2);
if (!flyGo || !flyctl) {
  console.error('usage: node scripts/flyctl-drift.ts FLY_GO_DIR FLYCTL_DIR');
  process.exit(2);
}
const roots = { 'fly-go': flyGo, flyctl };
const schema = buildSchema(SCHEMA_SDL);

function readSource(root: string, file: string): string {
  if (existsSync(join(root, file))) return readFileSync(join(root, file), 'utf8');
  return execFileSync('git', ['--git-dir', root, 'show', `HEAD:${file}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** A document as one canonical text, or undefined when it does not parse. */
function canonical(text: string): string | undefined {
  try {
    return print(parse(text)).replace(/\s+/g, ' ').trim();
  } catch {
    return undefined;
  }
}

/** The operation's root selection, aliases included: how its literal is recognized in the source. */
function rootOf(text: string): string {
  const document = parse(text);
  const operation = document.definitions[0] as unknown as { selectionSet: { selections: Array<{ alias?: { value: string }; name: { value: string } }> } };
  return operation.selectionSet.selections.map((field) => `${field.alias ? `${field.alias.value}:` : ''}${field.name.value}`).join(',');
}

/** Every backquoted or quoted GraphQL document in a Go source file. */
function literals(source: string): string[] {
  const found = [...source.matchAll(/`([^`]*)`/g)].map((match) => match[1] as string);
  return found.filter((text) => /^\s*(query|mutation)\b/.test(text) && canonical(text) !== undefined);
}

let drift = 0;
for (const op of FLYCTL_OPERATIONS) {
  const wanted = canonical(op.query) as string;
  const candidates = literals(readSource(roots[op.repo], op.file)).filter((text) => rootOf(text) === rootOf(op.query));
  const same = candidates.find((text) => canonical(text) === wanted);
  const errors = (text: string) => validate(schema, parse(text)).map((error) => error.message);
  if (same) {
    console.log(`ok     ${op.name} (${op.repo} ${op.file})`);
    continue;
  }
  drift++;
  if (candidates.length === 0) {
    console.log(`GONE   ${op.name}: no operation on ${rootOf(op.query)} in ${op.repo} ${op.file}`);
    continue;
  }
  for (const text of candidates) {
    const invalid = errors(text);
    console.log(`CHANGED ${op.name} (${op.repo} ${op.file}): ${invalid.length ? `hangar's schema refuses it: ${invalid.join('; ')}` : 'hangar\'s schema takes it'}`);
    console.log(`  now:     ${canonical(text)}`);
    console.log(`  fixture: ${wanted}`);
  }
}
console.log(drift === 0 ? `no drift: ${FLYCTL_OPERATIONS.length} operations as transcribed` : `${drift} operation(s) drifted`);
process.exit(drift === 0 ? 0 : 1);
