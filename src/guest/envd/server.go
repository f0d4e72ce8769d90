// The agent's HTTP routes: GET /health, /files, and the process and filesystem
// services at /<package>.<Service>/<Method>; the access token checked on all
// but /health and /files (which take a signature instead).
package main

import (
	"crypto/subtle"
	"net/http"
	"sync"
)

type config struct {
	user    string
	workdir string
	start   string
	version string

	// What /init may change while the agent runs (a forked sandbox is given its
	// own token and variables): read through accessToken and sandboxEnvs.
	mu    sync.RWMutex
	token string
	envs  map[string]string
}

func (c *config) accessToken() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

func (c *config) sandboxEnvs() map[string]string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.envs
}

// reinit replaces the token (when one is given) and the sandbox-wide variables.
func (c *config) reinit(token string, envs map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if token != "" {
		c.token = token
	}
	if envs != nil {
		c.envs = envs
	}
}

type server struct {
	config    *config
	processes *processes
	watchers  *watchers
	routes    map[string]http.HandlerFunc
}

func newServer(cfg *config) *server {
	s := &server{config: cfg, processes: newProcesses(cfg), watchers: &watchers{byID: map[string]*polled{}}}
	s.routes = map[string]http.HandlerFunc{
		"/process.Process/Start":                  serverStream(s.processStart),
		"/process.Process/Connect":                serverStream(s.processConnect),
		"/process.Process/List":                   unary(s.processList),
		"/process.Process/SendInput":              unary(s.processSendInput),
		"/process.Process/CloseStdin":             unary(s.processCloseStdin),
		"/process.Process/SendSignal":             unary(s.processSendSignal),
		"/process.Process/Update":                 unary(s.processUpdate),
		"/process.Process/StreamInput":            unary(s.processStreamInput),
		"/filesystem.Filesystem/Stat":             unary(s.fsStat),
		"/filesystem.Filesystem/ListDir":          unary(s.fsListDir),
		"/filesystem.Filesystem/MakeDir":          unary(s.fsMakeDir),
		"/filesystem.Filesystem/Move":             unary(s.fsMove),
		"/filesystem.Filesystem/Remove":           unary(s.fsRemove),
		"/filesystem.Filesystem/WatchDir":         serverStream(s.fsWatchDir),
		"/filesystem.Filesystem/CreateWatcher":    unary(s.fsCreateWatcher),
		"/filesystem.Filesystem/GetWatcherEvents": unary(s.fsGetWatcherEvents),
		"/filesystem.Filesystem/RemoveWatcher":    unary(s.fsRemoveWatcher),
	}
	return s
}

func (s *server) tokenMatches(r *http.Request) bool {
	given := r.Header.Get("X-Access-Token")
	return given != "" && subtle.ConstantTimeCompare([]byte(given), []byte(s.config.accessToken())) == 1
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A handler's panic is one request's failure, never the agent's.
		if recovered := recover(); recovered != nil {
			if recovered == http.ErrAbortHandler {
				panic(recovered)
			}
			restError(w, 500, "internal error")
		}
	}()
	switch r.URL.Path {
	case "/health":
		if r.Method != http.MethodGet {
			restError(w, 405, "GET only")
			return
		}
		w.WriteHeader(204)
		return
	case "/files":
		switch r.Method {
		case http.MethodGet:
			s.getFile(w, r)
		case http.MethodPost:
			s.postFiles(w, r)
		default:
			restError(w, 405, "GET or POST only")
		}
		return
	}
	route, ok := s.routes[r.URL.Path]
	if !ok {
		restError(w, 404, "no such route")
		return
	}
	if r.Method != http.MethodPost {
		restError(w, 405, "RPCs are POST")
		return
	}
	if s.config.accessToken() != "" && !s.tokenMatches(r) {
		writeUnaryError(w, errorf("unauthenticated", "a valid X-Access-Token is required"))
		return
	}
	route(w, r)
}
