// Directory watches: WatchDir streams inotify events; CreateWatcher,
// GetWatcherEvents and RemoveWatcher keep them for polling (the Python SDK's
// synchronous watch). A recursive watch follows directories made later too.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"
)

const watchMask = syscall.IN_CREATE | syscall.IN_MODIFY | syscall.IN_DELETE | syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO | syscall.IN_ATTRIB | syscall.IN_DELETE_SELF

// maxKept bounds the events a polled watcher keeps between polls.
const maxKept = 10000

type watcher struct {
	root      string
	recursive bool
	entries   bool
	file      *os.File
	fd        int // the inotify descriptor (file.Fd() would make reads blocking)
	mu        sync.Mutex
	dirs      map[int32]string
}

func newWatcher(req *WatchRequest, root string) (*watcher, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, fsError(err, root)
	}
	if !info.IsDir() {
		return nil, errorf("invalid_argument", "%s: not a directory", root)
	}
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, errorf("internal", "inotify: %v", err)
	}
	w := &watcher{root: root, recursive: req.Recursive, entries: req.IncludeEntry, file: os.NewFile(uintptr(fd), "inotify"), fd: fd, dirs: map[int32]string{}}
	if err := w.add(root); err != nil {
		w.file.Close()
		return nil, err
	}
	return w, nil
}

// add watches a directory and, when recursive, those under it.
func (w *watcher) add(dir string) error {
	descriptor, err := syscall.InotifyAddWatch(w.fd, dir, watchMask)
	if err != nil {
		return fsError(err, dir)
	}
	w.mu.Lock()
	w.dirs[int32(descriptor)] = dir
	w.mu.Unlock()
	if !w.recursive {
		return nil
	}
	children, _ := os.ReadDir(dir)
	for _, child := range children {
		if child.IsDir() {
			_ = w.add(filepath.Join(dir, child.Name()))
		}
	}
	return nil
}

var eventTypes = []struct {
	mask uint32
	name string
}{
	{syscall.IN_CREATE | syscall.IN_MOVED_TO, "EVENT_TYPE_CREATE"},
	{syscall.IN_MODIFY, "EVENT_TYPE_WRITE"},
	{syscall.IN_DELETE, "EVENT_TYPE_REMOVE"},
	{syscall.IN_MOVED_FROM, "EVENT_TYPE_RENAME"},
	{syscall.IN_ATTRIB, "EVENT_TYPE_CHMOD"},
}

// next reads the events of one read; it returns an error once the watch is closed.
func (w *watcher) next(buffer []byte) ([]FilesystemEvent, error) {
	n, err := w.file.Read(buffer)
	if err != nil {
		return nil, err
	}
	var events []FilesystemEvent
	for offset := 0; offset+syscall.SizeofInotifyEvent <= n; {
		raw := (*syscall.InotifyEvent)(unsafe.Pointer(&buffer[offset]))
		nameBytes := buffer[offset+syscall.SizeofInotifyEvent : offset+syscall.SizeofInotifyEvent+int(raw.Len)]
		offset += syscall.SizeofInotifyEvent + int(raw.Len)
		name := string(nameBytes)
		for i, c := range nameBytes {
			if c == 0 {
				name = string(nameBytes[:i])
				break
			}
		}
		w.mu.Lock()
		dir, known := w.dirs[raw.Wd]
		w.mu.Unlock()
		if !known || name == "" {
			continue
		}
		path := filepath.Join(dir, name)
		if raw.Mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 && raw.Mask&syscall.IN_ISDIR != 0 && w.recursive {
			_ = w.add(path)
		}
		relative, _ := filepath.Rel(w.root, path)
		for _, kind := range eventTypes {
			if raw.Mask&kind.mask == 0 {
				continue
			}
			event := FilesystemEvent{Name: relative, Type: kind.name}
			if w.entries && kind.name != "EVENT_TYPE_REMOVE" && kind.name != "EVENT_TYPE_RENAME" {
				if entry, err := entryInfo(path); err == nil {
					event.Entry = entry
				}
			}
			events = append(events, event)
		}
	}
	return events, nil
}

func (w *watcher) close() { w.file.Close() }

func (s *server) fsWatchDir(ctx context.Context, r *http.Request, req *WatchRequest, out *stream) error {
	acct, err := s.rpcAccount(r)
	if err != nil {
		return err
	}
	w, err := newWatcher(req, acct.resolve(req.Path))
	if err != nil {
		return err
	}
	defer w.close()
	go func() {
		<-ctx.Done()
		w.close()
	}()
	if err := out.Send(WatchDirResponse{Start: &Empty{}}); err != nil {
		return err
	}
	out.keepAlive(ctx, r, WatchDirResponse{Keepalive: &Empty{}})
	buffer := make([]byte, 64<<10)
	for {
		events, err := w.next(buffer)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return errorf("internal", "watching %s: %v", w.root, err)
		}
		for i := range events {
			if err := out.Send(WatchDirResponse{Filesystem: &events[i]}); err != nil {
				return err
			}
		}
	}
}

// polled is a watcher whose events wait for GetWatcherEvents.
type polled struct {
	w      *watcher
	mu     sync.Mutex
	events []FilesystemEvent
}

type watchers struct {
	mu   sync.Mutex
	byID map[string]*polled
}

func (s *server) fsCreateWatcher(r *http.Request, req *WatchRequest) (*CreateWatcherResponse, error) {
	acct, err := s.rpcAccount(r)
	if err != nil {
		return nil, err
	}
	w, err := newWatcher(req, acct.resolve(req.Path))
	if err != nil {
		return nil, err
	}
	random := make([]byte, 12)
	_, _ = rand.Read(random)
	id := hex.EncodeToString(random)
	p := &polled{w: w}
	s.watchers.mu.Lock()
	s.watchers.byID[id] = p
	s.watchers.mu.Unlock()
	go func() {
		buffer := make([]byte, 64<<10)
		for {
			events, err := w.next(buffer)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.events = append(p.events, events...)
			if len(p.events) > maxKept {
				p.events = p.events[len(p.events)-maxKept:]
			}
			p.mu.Unlock()
		}
	}()
	return &CreateWatcherResponse{WatcherID: id}, nil
}

func (s *server) polledWatcher(id string) (*polled, error) {
	s.watchers.mu.Lock()
	defer s.watchers.mu.Unlock()
	p, ok := s.watchers.byID[id]
	if !ok {
		return nil, errorf("not_found", "watcher %q not found", id)
	}
	return p, nil
}

func (s *server) fsGetWatcherEvents(r *http.Request, req *WatcherRequest) (*GetWatcherEventsResponse, error) {
	p, err := s.polledWatcher(req.WatcherID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	events := p.events
	p.events = nil
	if events == nil {
		events = []FilesystemEvent{}
	}
	return &GetWatcherEventsResponse{Events: events}, nil
}

func (s *server) fsRemoveWatcher(r *http.Request, req *WatcherRequest) (*Empty, error) {
	p, err := s.polledWatcher(req.WatcherID)
	if err != nil {
		return nil, err
	}
	s.watchers.mu.Lock()
	delete(s.watchers.byID, req.WatcherID)
	s.watchers.mu.Unlock()
	p.w.close()
	return &Empty{}, nil
}
