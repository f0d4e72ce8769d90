/** Loads something once (again when `key` changes), with its error; a signed-out answer signs the console out. */
import { useEffect, useState } from 'preact/hooks';
import { SignedOut } from './api.ts';

export function useLoad<T>(load: () => Promise<T>, key: unknown[], onSignedOut: () => void): { data?: T; error?: string; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const [turn, setTurn] = useState(0);
  useEffect(() => {
    let current = true;
    load().then((data) => current && setState({ data }), (error: Error) => {
      if (error instanceof SignedOut) onSignedOut();
      else if (current) setState({ error: error.message });
    });
    return () => { current = false; };
  }, [...key, turn]);
  return { ...state, reload: () => setTurn((n) => n + 1) };
}
