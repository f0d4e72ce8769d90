/** The sign-in page: the API token, checked by a call before it is kept. */
import { useState } from 'preact/hooks';
import { get, session } from './api.ts';

export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const submit = async (event: Event) => {
    event.preventDefault();
    session.signIn(token.trim());
    try {
      await get('/v1/apps');
      onSignedIn();
    } catch (failure) {
      session.signOut();
      setError((failure as Error).message);
    }
  };
  return (
    <form class="sign-in" onSubmit={submit}>
      <h1>hangar</h1>
      <label>API token
        <input name="token" type="password" autocomplete="current-password" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Sign in</button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}
