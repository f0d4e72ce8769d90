/**
 * hangar's web console: sign in with the API token, then apps, an app's machines
 * live (with their events, logs and actions), its releases, secrets (names only)
 * and a chart of its machines' states; the hosts and their capacity.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { session } from './api.ts';
import { AppView } from './app-view.tsx';
import { AppsList } from './apps-list.tsx';
import { HostsView } from './hosts-view.tsx';
import { SignIn } from './sign-in.tsx';

function route(): string[] {
  return location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
}

function Console() {
  const [signedIn, setSignedIn] = useState(session.token() !== null);
  const [path, setPath] = useState(route());
  useEffect(() => {
    const onHash = () => setPath(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const signOut = () => {
    session.signOut();
    setSignedIn(false);
  };
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const [section, name] = path;
  return (
    <div class="console">
      <header>
        <a class="brand" href="#/apps">hangar</a>
        <nav>
          <a href="#/apps" class={section !== 'hosts' ? 'here' : ''}>Apps</a>
          <a href="#/hosts" class={section === 'hosts' ? 'here' : ''}>Hosts</a>
        </nav>
        <button type="button" class="quiet" onClick={signOut}>Sign out</button>
      </header>
      <main>
        {section === 'hosts' ? <HostsView onSignedOut={signOut} />
          : section === 'apps' && name ? <AppView app={name} onSignedOut={signOut} />
            : <AppsList onSignedOut={signOut} />}
      </main>
    </div>
  );
}

render(<Console />, document.getElementById('root') as HTMLElement);
