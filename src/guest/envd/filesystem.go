// filesystem.Filesystem's unary calls: Stat, ListDir, MakeDir, Move, Remove, each
// on a path resolved for the user the request names (relative: under their home).
package main

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func fsError(err error, path string) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errorf("not_found", "%s: no such file or directory", path)
	case errors.Is(err, fs.ErrExist):
		return errorf("already_exists", "%s: already exists", path)
	case errors.Is(err, fs.ErrPermission):
		return errorf("permission_denied", "%s: permission denied", path)
	case errors.Is(err, syscall.ENOSPC):
		return errorf("resource_exhausted", "%s: no space left on device", path)
	case errors.Is(err, syscall.ENOTDIR):
		return errorf("invalid_argument", "%s: not a directory", path)
	case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ENAMETOOLONG):
		return errorf("invalid_argument", "%q: not a usable path", path)
	}
	return errorf("internal", "%s: %v", path, err)
}

func nameOf(id uint32, lookup func(string) (string, error)) string {
	text := strconv.FormatUint(uint64(id), 10)
	if name, err := lookup(text); err == nil {
		return name
	}
	return text
}

func userName(id string) (string, error) {
	found, err := user.LookupId(id)
	if err != nil {
		return "", err
	}
	return found.Username, nil
}

func groupName(id string) (string, error) {
	found, err := user.LookupGroupId(id)
	if err != nil {
		return "", err
	}
	return found.Name, nil
}

// entryInfo describes a path without following a final symlink; a symlink gives
// its target's type and the absolute path it leads to.
func entryInfo(path string) (*EntryInfo, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, fsError(err, path)
	}
	entry := &EntryInfo{
		Name: filepath.Base(path), Path: path, Size: Int64(info.Size()),
		Mode: uint32(info.Mode().Perm()), Permissions: info.Mode().String(),
		ModifiedTime: info.ModTime().UTC().Format(time.RFC3339Nano),
		Type:         fileTypes[1],
	}
	if info.IsDir() {
		entry.Type = fileTypes[2]
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		entry.Type = fileTypes[3]
		if target, err := filepath.EvalSymlinks(path); err == nil {
			entry.SymlinkTarget = &target
		} else if target, err := os.Readlink(path); err == nil {
			entry.SymlinkTarget = &target
		}
	}
	if stat, ok := info.Sys().(*syscall.Stat_t); ok {
		entry.Owner = nameOf(stat.Uid, userName)
		entry.Group = nameOf(stat.Gid, groupName)
	}
	entry.Metadata = readMetadata(path)
	return entry, nil
}

func (s *server) fsStat(r *http.Request, req *PathRequest) (*EntryResponse, error) {
	acct, err := s.rpcAccount(r)
	if err != nil {
		return nil, err
	}
	entry, err := entryInfo(acct.resolve(req.Path))
	if err != nil {
		return nil, err
	}
	return &EntryResponse{Entry: entry}, nil
}

// maxListed bounds one ListDir answer.
const maxListed = 100000

func (s *server) fsListDir(r *http.Request, req *ListDirRequest) (*ListDirResponse, error) {
	acct, err := s.rpcAccount(r)
	if err != nil {
		return nil, err
	}
	root := acct.resolve(req.Path)
	depth := int(req.Depth)
	if depth < 1 {
		depth = 1
	}
	info, err := os.Stat(root)
	if err != nil {
		return nil, fsError(err, root)
	}
	if !info.IsDir() {
		return nil, errorf("invalid_argument", "%s: not a directory", root)
	}
	list := &ListDirResponse{Entries: []*EntryInfo{}}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if path == root {
			return err
		}
		if err != nil {
			return nil
		}
		if len(list.Entries) >= maxListed {
			return errorf("resource_exhausted", "%s: more than %d entries", root, maxListed)
		}
		if entry, err := entryInfo(path); err == nil {
			list.Entries = append(list.Entries, entry)
		}
		relative, _ := filepath.Rel(root, path)
		if d.IsDir() && countParts(relative) >= depth {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fsError(err, root)
	}
	return list, nil
}

func countParts(relative string) int {
	parts := 1
	for _, c := range relative {
		if c == filepath.Separator {
			parts++
		}
	}
	return parts
}

// makeParents creates the missing directories above path, owned by the user.
func makeParents(acct *account, path string) error {
	parent := filepath.Dir(path)
	var missing []string
	for dir := parent; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(dir); err == nil || dir == "/" || dir == "." {
			break
		}
		missing = append(missing, dir)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	for _, dir := range missing {
		acct.chownTo(dir)
	}
	return nil
}

func (s *server) fsMakeDir(r *http.Request, req *PathRequest) (*EntryResponse, error) {
	acct, err := s.rpcAccount(r)
	if err != nil {
		return nil, err
	}
	path := acct.resolve(req.Path)
	if _, err := os.Lstat(path); err == nil {
		return nil, errorf("already_exists", "%s: already exists", path)
	}
	if err := makeParents(acct, path); err != nil {
		return nil, fsError(err, path)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		return nil, fsError(err, path)
	}
	acct.chownTo(path)
	entry, err := entryInfo(path)
	if err != nil {
		return nil, err
	}
	return &EntryResponse{Entry: entry}, nil
}

func (s *server) fsMove(r *http.Request, req *MoveRequest) (*EntryResponse, error) {
	acct, err := s.rpcAccount(r)
	if err != nil {
		return nil, err
	}
	source, destination := acct.resolve(req.Source), acct.resolve(req.Destination)
	if _, err := os.Lstat(source); err != nil {
		return nil, fsError(err, source)
	}
	if err := makeParents(acct, destination); err != nil {
		return nil, fsError(err, destination)
	}
	if err := os.Rename(source, destination); err != nil {
		return nil, fsError(err, destination)
	}
	entry, err := entryInfo(destination)
	if err != nil {
		return nil, err
	}
	return &EntryResponse{Entry: entry}, nil
}

func (s *server) fsRemove(r *http.Request, req *PathRequest) (*Empty, error) {
	acct, err := s.rpcAccount(r)
	if err != nil {
		return nil, err
	}
	path := acct.resolve(req.Path)
	if path == "/" {
		return nil, errorf("invalid_argument", "the root directory is not removed")
	}
	if err := os.RemoveAll(path); err != nil {
		return nil, fsError(err, path)
	}
	return &Empty{}, nil
}
