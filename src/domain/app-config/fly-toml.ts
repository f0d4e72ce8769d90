/**
 * Reading a `fly.toml` as flyctl reads it: TOML (toml-eslint-parser, which keeps
 * where each key is written), then flyctl's patches (appconfig/patches.go: a single
 * `[vm]`, `[mounts]` or `[services]` table taken as a list of one, `[[checks]]` with
 * names, `kill_timeout` in seconds, check durations in milliseconds, `[env]` values
 * of any scalar), then the schema (fly-toml-schema.ts). An invalid key or value is
 * an error naming its line; a key hangar does not know is a warning naming its line.
 * One leniency: `[[http_service.concurrency]]`, which Fly's suspend documentation
 * writes, is taken as the table flyctl expects.
 */
import { getStaticTOMLValue, parseTOML } from 'toml-eslint-parser';
import { Compile } from 'typebox/compile';
import { invalid } from '../errors.ts';
import { explain, type SchemaError } from '../go-json.ts';
import { type FlyToml, FlyTomlSchema } from './fly-toml-schema.ts';

export interface ParsedFlyToml {
  config: FlyToml;
  /** Keys hangar does not know, each with its line: flyctl ignores them too. */
  warnings: string[];
}

type Json = Record<string, unknown>;
type Node = { type: string; loc: { start: { line: number } }; [key: string]: unknown };

const checker = Compile(FlyTomlSchema);

export function parseFlyToml(text: string, file = 'fly.toml'): ParsedFlyToml {
  let ast: ReturnType<typeof parseTOML>;
  try {
    ast = parseTOML(text);
  } catch (error) {
    const { lineNumber, message } = error as { lineNumber?: number; message: string };
    throw invalid(`${file}${lineNumber ? `:${lineNumber}` : ''}: ${message}`);
  }
  const lines = keyLines(ast as unknown as Node);
  const lineOf = (path: string): string => {
    for (let parts = path.split('.'); parts.length > 0; parts = parts.slice(0, -1)) {
      const line = lines.get(parts.join('.')) ?? lines.get(parts.filter((part) => !/^\d+$/.test(part)).join('.'));
      if (line !== undefined) return `${file}:${line}`;
    }
    return file;
  };
  const config = patched(getStaticTOMLValue(ast) as Json, lineOf);
  if (!checker.Check(config)) {
    const errors = [...checker.Errors(config)] as unknown as SchemaError[];
    const path = (errors[0]?.instancePath ?? '').split('/').slice(1).join('.');
    throw invalid(`${lineOf(path)}: ${explain(FlyTomlSchema as never, errors, '').replace(/^\./, '').replaceAll(/\[(\d+)\]/g, '.$1')}`);
  }
  return { config: config as FlyToml, warnings: unknownKeys(FlyTomlSchema as unknown as SchemaNode, config, '').map((path) => `${lineOf(path)}: ${path} is not a key hangar knows: it is ignored`) };
}

/** Where each key is written: its dotted path (array items by index) → line. */
function keyLines(root: Node): Map<string, number> {
  const lines = new Map<string, number>();
  const visit = (node: Node, prefix: string[]): void => {
    if (node.type === 'Program' || node.type === 'TOMLTopLevelTable' || node.type === 'TOMLInlineTable') {
      for (const child of node.body as Node[]) visit(child, prefix);
    } else if (node.type === 'TOMLTable') {
      const path = (node.resolvedKey as Array<string | number>).map(String);
      lines.set(path.join('.'), node.loc.start.line);
      for (const child of node.body as Node[]) visit(child, path);
    } else if (node.type === 'TOMLKeyValue') {
      const path = [...prefix, ...((node.key as { keys: Array<{ name?: string; value?: string }> }).keys.map((key) => String(key.name ?? key.value)))];
      lines.set(path.join('.'), node.loc.start.line);
      visit(node.value as Node, path);
    } else if (node.type === 'TOMLArray') {
      (node.elements as Node[]).forEach((element, index) => {
        lines.set([...prefix, String(index)].join('.'), element.loc.start.line);
        visit(element, [...prefix, String(index)]);
      });
    }
  };
  visit(root, []);
  return lines;
}

const asList = (value: unknown): unknown => (value !== undefined && !Array.isArray(value) ? [value] : value);
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Go's ParseDuration spelling of a number of `unit`s. */
const durationOf = (value: unknown, unit: 's' | 'ms'): unknown => (typeof value === 'number' && Number.isInteger(value) ? `${value}${unit}` : value);

/** flyctl's patches (appconfig/patches.go), on a copy. */
function patched(raw: Json, lineOf: (path: string) => string): Json {
  const config: Json = structuredClone(raw);
  for (const alias of ['compute', 'computes']) {
    if (config[alias] !== undefined) config.vm = [...(asList(config.vm) as unknown[] ?? []), ...(asList(config[alias]) as unknown[])];
    delete config[alias];
  }
  if (config.mount !== undefined) config.mounts = [...(asList(config.mounts) as unknown[] ?? []), ...(asList(config.mount) as unknown[])];
  delete config.mount;
  for (const key of ['vm', 'mounts', 'services']) if (config[key] !== undefined) config[key] = asList(config[key]);
  config.kill_timeout = durationOf(config.kill_timeout, 's');
  if (isObject(config.env)) {
    for (const [name, value] of Object.entries(config.env)) {
      if (['number', 'boolean'].includes(typeof value)) config.env[name] = String(value);
    }
  }
  if (Array.isArray(config.checks)) {
    config.checks = Object.fromEntries(config.checks.map((check, index) => {
      if (!isObject(check) || typeof check.name !== 'string') throw invalid(`${lineOf(`checks.${index}`)}: checks.${index}.name: a check of [[checks]] needs a name`);
      const { name, ...rest } = check;
      return [name, rest];
    }));
  }
  for (const check of Object.values(isObject(config.checks) ? config.checks : {})) patchCheck(check, 'ms');
  for (const vm of Array.isArray(config.vm) ? config.vm : []) {
    if (isObject(vm) && typeof vm.memory === 'number') vm.memory = String(vm.memory);
  }
  if (isObject(config.http_service)) {
    const service = config.http_service;
    // Fly's suspend documentation writes [[http_service.concurrency]]: a list of one is the table flyctl expects.
    if (Array.isArray(service.concurrency) && service.concurrency.length === 1) service.concurrency = service.concurrency[0];
    service.checks = asList(service.checks);
  }
  for (const service of Array.isArray(config.services) ? config.services : []) {
    if (!isObject(service)) continue;
    if (typeof service.concurrency === 'string') {
      const [soft, hard] = service.concurrency.split(',').map(Number);
      service.concurrency = { type: 'requests', soft_limit: soft, hard_limit: hard };
    }
    if (typeof service.internal_port === 'string' && /^\d+$/.test(service.internal_port)) service.internal_port = Number(service.internal_port);
    for (const key of ['ports', 'tcp_checks', 'http_checks']) if (service[key] !== undefined) service[key] = asList(service[key]);
    for (const checks of [service.tcp_checks, service.http_checks]) for (const check of Array.isArray(checks) ? checks : []) patchCheck(check, 'ms');
    for (const entry of Array.isArray(service.ports) ? service.ports : []) {
      if (isObject(entry) && typeof entry.port === 'string' && /^\d+$/.test(entry.port)) entry.port = Number(entry.port);
    }
  }
  return config;
}

function patchCheck(check: unknown, unit: 's' | 'ms'): void {
  if (!isObject(check)) return;
  for (const key of ['interval', 'timeout', 'grace_period']) check[key] = durationOf(check[key], unit);
  // The legacy list of {name, value} headers.
  if (Array.isArray(check.headers)) {
    check.headers = Object.fromEntries(check.headers.filter(isObject).map((header) => [String(header.name), String(header.value)]));
  }
  for (const key of Object.keys(check)) if (check[key] === undefined) delete check[key];
}

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  patternProperties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
}

/** Paths of keys `value` has that `schema` does not name (maps' own keys are names, not keys). */
function unknownKeys(schema: SchemaNode, value: unknown, path: string): string[] {
  const at = (key: string) => (path ? `${path}.${key}` : key);
  if (Array.isArray(value) && schema.items) return value.flatMap((item, index) => unknownKeys(schema.items as SchemaNode, item, at(String(index))));
  if (!isObject(value)) return [];
  if (schema.properties) {
    return Object.entries(value).flatMap(([key, item]) => {
      const known = schema.properties?.[key];
      return known ? unknownKeys(known, item, at(key)) : [at(key)];
    });
  }
  const entries = schema.patternProperties ? Object.values(schema.patternProperties)[0] : undefined;
  return entries ? Object.entries(value).flatMap(([key, item]) => unknownKeys(entries, item, at(key))) : [];
}
