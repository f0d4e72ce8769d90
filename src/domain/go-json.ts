/**
 * How Go's encoding/json reads a value into the struct a schema describes, where
 * that differs from JSON Schema: `null` leaves any field unset, and an object key
 * matches a struct field case-insensitively (`"Image"` lands in `image`). hangar
 * answers with what it stored, so a key a Go client would read into a known field
 * must never be stored beside it.
 */
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { invalid } from './errors.ts';

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The object variant of a schema, if it has one (unions hold at most one here). */
function objectSchema(schema: JsonSchema): JsonSchema | undefined {
  if (schema.type === 'object') return schema;
  return schema.anyOf?.map(objectSchema).find((s) => s !== undefined);
}

function arraySchema(schema: JsonSchema): JsonSchema | undefined {
  if (schema.type === 'array') return schema;
  return schema.anyOf?.map(arraySchema).find((s) => s !== undefined);
}

/** The schema of `key` in an object described by `schema`, if it names one ("constructor" is no field unless it is named). */
function fieldSchema(schema: JsonSchema, key: string): JsonSchema | undefined {
  const named = schema.properties && Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
  return named ?? Object.values(schema.patternProperties ?? {})[0];
}

/** Sets an own key, "__proto__" included (an assignment would set the prototype instead). */
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A copy of `value` without the nulls Go would read as "unset": named fields and
 * map entries that are null are dropped. Nulls inside unknown fields are kept.
 */
export function withoutNulls(schema: TSchema, value: unknown): unknown {
  return strip(schema as JsonSchema, value);
}

function strip(schema: JsonSchema, value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = arraySchema(schema)?.items;
    return items ? value.map((item) => strip(items, item)) : value;
  }
  const shape = objectSchema(schema);
  if (!isObject(value) || !shape) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    const sub = fieldSchema(shape, key);
    if (!sub) setOwn(out, key, field);
    else if (field !== null) setOwn(out, key, strip(sub, field));
  }
  return out;
}

/** The keys of `value` that differ from a field of `schema` only by case, as `path.key` strings. */
export function caseClashes(schema: TSchema, value: unknown, path: string): string[] {
  return clashes(schema as JsonSchema, value, path);
}

function clashes(schema: JsonSchema, value: unknown, path: string): string[] {
  if (Array.isArray(value)) {
    const items = arraySchema(schema)?.items;
    return items ? value.flatMap((item, i) => clashes(items, item, `${path}[${i}]`)) : [];
  }
  const shape = objectSchema(schema);
  if (!isObject(value) || !shape) return [];
  const known = new Map(Object.keys(shape.properties ?? {}).map((name) => [name.toLowerCase(), name]));
  const found: string[] = [];
  for (const [key, field] of Object.entries(value)) {
    const sub = fieldSchema(shape, key);
    if (sub) {
      found.push(...clashes(sub, field, `${path}.${key}`));
    } else if (known.has(key.toLowerCase())) {
      found.push(`${path}.${key} (write it as "${known.get(key.toLowerCase())}")`);
    }
  }
  return found;
}

/** A checker that throws an invalid-argument error naming the first field that does not fit `schema`. */
export function schemaChecker(schema: TSchema, root: string): (value: unknown) => void {
  const compiled = Compile(schema);
  return (value) => {
    if (compiled.Check(value)) return;
    const errors = compiled.Errors(value) as unknown as SchemaError[];
    throw invalid(explain(schema as JsonSchema, errors, root));
  };
}

export interface SchemaError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: { requiredProperties?: string[]; type?: string };
  message: string;
}

/** "config.services[0].autostop must be true or false, "off", "stop" or "suspend"". */
export function explain(schema: JsonSchema, errors: SchemaError[], root: string): string {
  const first = errors[0];
  if (!first) return `${root} is invalid`;
  const at = `${root}${first.instancePath.split('/').slice(1).map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`)).join('')}`;
  if (first.keyword === 'required') return `${at}.${first.params.requiredProperties?.[0] ?? '?'} is required`;
  // A field an object that allows no others does not name (`additionalProperties: false`).
  if (first.keyword === 'boolean') return `${at} is not a field it takes`;
  // Errors come innermost first: the last one at the same place is the whole field's.
  const outer = errors.filter((error) => error.instancePath === first.instancePath).at(-1) ?? first;
  if (outer.keyword === 'type') return `${at} must be ${describe({ type: outer.params.type })}`;
  if (first.keyword === 'pattern') {
    const described = schemaAt(schema, first.schemaPath) as { description?: string } | undefined;
    if (described?.description) return `${at} must be ${described.description}`;
  }
  if (outer.keyword !== 'anyOf') return `${at} ${first.message}`;
  return `${at} must be ${describe(schemaAt(schema, outer.schemaPath) as JsonSchema)}`;
}

/** The part of `schema` a JSON pointer (`#/properties/a/anyOf/0`) names. */
function schemaAt(schema: JsonSchema, pointer: string): unknown {
  return pointer.slice(2).split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], schema);
}

function describe(schema: JsonSchema & { const?: unknown; description?: string }): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf) return schema.anyOf.map(describe).join(' or ');
  if (schema.description) return schema.description;
  const words: Record<string, string> = {
    integer: 'a whole number', number: 'a number', string: 'a string', boolean: 'true or false', array: 'a list', object: 'an object', void: 'absent',
  };
  return words[schema.type ?? ''] ?? 'valid';
}
