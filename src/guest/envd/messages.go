// The messages of envd's process.proto and filesystem.proto in proto3's JSON
// mapping: lowerCamelCase names, int64 as strings, bytes as base64, enums by
// name (numbers accepted), default values left out, oneofs flattened.
package main

import (
	"encoding/json"
	"strconv"
)

// enum is a proto enum read by name or number and written by name.
type enum struct {
	names  map[string]int32
	values map[int32]string
}

func newEnum(values map[int32]string) enum {
	names := make(map[string]int32, len(values))
	for number, name := range values {
		names[name] = number
	}
	return enum{names: names, values: values}
}

func (e enum) read(data []byte) (int32, error) {
	var name string
	if err := json.Unmarshal(data, &name); err == nil {
		if number, ok := e.names[name]; ok {
			return number, nil
		}
		return 0, errorf("invalid_argument", "unknown enum value %q", name)
	}
	var number int32
	if err := json.Unmarshal(data, &number); err != nil {
		return 0, errorf("invalid_argument", "an enum is a name or a number")
	}
	return number, nil
}

var signals = newEnum(map[int32]string{0: "SIGNAL_UNSPECIFIED", 9: "SIGNAL_SIGKILL", 15: "SIGNAL_SIGTERM"})

// Signal is process.Signal.
type Signal int32

func (s *Signal) UnmarshalJSON(data []byte) error {
	number, err := signals.read(data)
	*s = Signal(number)
	return err
}

// Int64 is a proto int64: a JSON string when written, a string or number when read.
type Int64 int64

func (i Int64) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatInt(int64(i), 10))
}

func (i *Int64) UnmarshalJSON(data []byte) error {
	var text string
	if json.Unmarshal(data, &text) == nil {
		number, err := strconv.ParseInt(text, 10, 64)
		*i = Int64(number)
		return err
	}
	var number int64
	err := json.Unmarshal(data, &number)
	*i = Int64(number)
	return err
}

// --- process.proto

type PTYSize struct {
	Cols uint32 `json:"cols,omitempty"`
	Rows uint32 `json:"rows,omitempty"`
}

type PTY struct {
	Size *PTYSize `json:"size,omitempty"`
}

type ProcessConfig struct {
	Cmd  string            `json:"cmd"`
	Args []string          `json:"args,omitempty"`
	Envs map[string]string `json:"envs,omitempty"`
	Cwd  *string           `json:"cwd,omitempty"`
}

type ProcessSelector struct {
	Pid *uint32 `json:"pid,omitempty"`
	Tag *string `json:"tag,omitempty"`
}

type StartRequest struct {
	Process *ProcessConfig `json:"process"`
	PTY     *PTY           `json:"pty"`
	Tag     *string        `json:"tag"`
	Stdin   *bool          `json:"stdin"`
}

type ConnectRequest struct {
	Process *ProcessSelector `json:"process"`
}

type ProcessInput struct {
	Stdin []byte `json:"stdin,omitempty"`
	PTY   []byte `json:"pty,omitempty"`
}

type SendInputRequest struct {
	Process *ProcessSelector `json:"process"`
	Input   *ProcessInput    `json:"input"`
}

type SendSignalRequest struct {
	Process *ProcessSelector `json:"process"`
	Signal  Signal           `json:"signal"`
}

type CloseStdinRequest struct {
	Process *ProcessSelector `json:"process"`
}

type UpdateRequest struct {
	Process *ProcessSelector `json:"process"`
	PTY     *PTY             `json:"pty"`
}

type ListRequest struct{}

type ProcessInfo struct {
	Config ProcessConfig `json:"config"`
	Pid    uint32        `json:"pid"`
	Tag    *string       `json:"tag,omitempty"`
}

type ListResponse struct {
	Processes []ProcessInfo `json:"processes"`
}

type Empty struct{}

type StartEvent struct {
	Pid uint32 `json:"pid"`
}

type DataEvent struct {
	Stdout []byte `json:"stdout,omitempty"`
	Stderr []byte `json:"stderr,omitempty"`
	PTY    []byte `json:"pty,omitempty"`
}

type EndEvent struct {
	ExitCode int32   `json:"exitCode,omitempty"`
	Exited   bool    `json:"exited,omitempty"`
	Status   string  `json:"status,omitempty"`
	Error    *string `json:"error,omitempty"`
}

type ProcessEvent struct {
	Start     *StartEvent `json:"start,omitempty"`
	Data      *DataEvent  `json:"data,omitempty"`
	End       *EndEvent   `json:"end,omitempty"`
	Keepalive *Empty      `json:"keepalive,omitempty"`
}

// ProcessStream is both StartResponse and ConnectResponse.
type ProcessStream struct {
	Event ProcessEvent `json:"event"`
}

// --- filesystem.proto

var fileTypes = map[int]string{1: "FILE_TYPE_FILE", 2: "FILE_TYPE_DIRECTORY", 3: "FILE_TYPE_SYMLINK"}

type EntryInfo struct {
	Name          string            `json:"name"`
	Type          string            `json:"type"`
	Path          string            `json:"path"`
	Size          Int64             `json:"size"`
	Mode          uint32            `json:"mode"`
	Permissions   string            `json:"permissions"`
	Owner         string            `json:"owner"`
	Group         string            `json:"group"`
	ModifiedTime  string            `json:"modifiedTime,omitempty"`
	SymlinkTarget *string           `json:"symlinkTarget,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

type PathRequest struct {
	Path string `json:"path"`
}

type EntryResponse struct {
	Entry *EntryInfo `json:"entry"`
}

type MoveRequest struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

type ListDirRequest struct {
	Path  string `json:"path"`
	Depth uint32 `json:"depth"`
}

type ListDirResponse struct {
	Entries []*EntryInfo `json:"entries"`
}

type WatchRequest struct {
	Path               string `json:"path"`
	Recursive          bool   `json:"recursive"`
	IncludeEntry       bool   `json:"includeEntry"`
	AllowNetworkMounts bool   `json:"allowNetworkMounts"`
}

type FilesystemEvent struct {
	Name  string     `json:"name"`
	Type  string     `json:"type"`
	Entry *EntryInfo `json:"entry,omitempty"`
}

type WatchDirResponse struct {
	Start      *Empty           `json:"start,omitempty"`
	Filesystem *FilesystemEvent `json:"filesystem,omitempty"`
	Keepalive  *Empty           `json:"keepalive,omitempty"`
}

type CreateWatcherResponse struct {
	WatcherID string `json:"watcherId"`
}

type WatcherRequest struct {
	WatcherID string `json:"watcherId"`
}

type GetWatcherEventsResponse struct {
	Events []FilesystemEvent `json:"events"`
}
