// Who a request acts as: the user named by `Authorization: Basic base64("user:")`
// (RPCs) or `username=` (/files), else the agent's default user; looked up in the
// image's /etc/passwd and /etc/group.
package main

import (
	"encoding/base64"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

type account struct {
	name  string
	uid   uint32
	gid   uint32
	home  string
	group []uint32
}

func lookupAccount(name string) (*account, error) {
	found, err := user.Lookup(name)
	if err != nil {
		if name == "root" {
			// An image with no /etc/passwd still has root.
			home := "/root"
			if info, statErr := os.Stat(home); statErr != nil || !info.IsDir() {
				home = "/"
			}
			return &account{name: "root", home: home}, nil
		}
		return nil, errorf("permission_denied", "user %q: no such user", name)
	}
	uid, _ := strconv.ParseUint(found.Uid, 10, 32)
	gid, _ := strconv.ParseUint(found.Gid, 10, 32)
	acct := &account{name: found.Username, uid: uint32(uid), gid: uint32(gid), home: found.HomeDir}
	if ids, err := found.GroupIds(); err == nil {
		for _, id := range ids {
			if number, err := strconv.ParseUint(id, 10, 32); err == nil {
				acct.group = append(acct.group, uint32(number))
			}
		}
	}
	if acct.home == "" {
		acct.home = "/"
	}
	return acct, nil
}

// credential is what a child runs as: nil when that is the agent's own user.
func (a *account) credential() *syscall.Credential {
	if int(a.uid) == os.Geteuid() {
		return nil
	}
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.group}
}

// resolve makes a path absolute: a relative one is under the user's home.
func (a *account) resolve(path string) string {
	if path == "" {
		return a.home
	}
	if strings.HasPrefix(path, "~/") || path == "~" {
		path = strings.TrimPrefix(strings.TrimPrefix(path, "~"), "/")
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(a.home, path)
	}
	return filepath.Clean(path)
}

// rpcAccount is the user an RPC names, or the default.
func (s *server) rpcAccount(r *http.Request) (*account, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return lookupAccount(s.config.user)
	}
	if !strings.HasPrefix(header, "Basic ") {
		return nil, errorf("unauthenticated", "Authorization must be Basic")
	}
	decoded, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(header, "Basic "))
	if err != nil {
		return nil, errorf("unauthenticated", "Authorization is not base64")
	}
	name, _, _ := strings.Cut(string(decoded), ":")
	if name == "" {
		return lookupAccount(s.config.user)
	}
	return lookupAccount(name)
}

// chownTo gives a path the user made to that user, when the agent runs as root.
func (a *account) chownTo(path string) {
	if os.Geteuid() == 0 && a.uid != 0 {
		_ = os.Lchown(path, int(a.uid), int(a.gid))
	}
}
