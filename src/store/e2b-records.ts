/**
 * The E2B front's own records (src/e2b/): API keys and templates, one JSON
 * document each under a kind and an id. The store keeps documents; src/e2b/ checks
 * each one it reads back against its schema.
 */
export type E2bKind = 'key' | 'template';

export interface E2bRecordStore {
  /** Adds a record; DuplicateError if one of that kind has that id. */
  insertE2bRecord(kind: E2bKind, id: string, doc: unknown): Promise<void>;
  getE2bRecord(kind: E2bKind, id: string): Promise<unknown>;
  listE2bRecords(kind: E2bKind): Promise<unknown[]>;
  /** Whether there was one to delete. */
  deleteE2bRecord(kind: E2bKind, id: string): Promise<boolean>;
}

/** A stored document as JSON, or undefined when it is not (a hand edit, a torn write). */
export function parseE2bDoc(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
