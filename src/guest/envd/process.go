// process.Process: commands started with pipes or a PTY, their output sent to
// every stream watching them as it is read (never kept whole), their stdin fed by
// SendInput, signalled, resized and listed. A process outlives the stream that
// started it; only the stream's Connect-Timeout-Ms ends it (as envd does).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"
)

type subscriber struct {
	events chan ProcessEvent
	gone   chan struct{}
}

type process struct {
	pid    uint32
	tag    *string
	config ProcessConfig
	cmd    *exec.Cmd
	pty    *os.File // the PTY's master, or nil

	mu    sync.Mutex
	stdin io.WriteCloser // nil when closed or never open
	subs  map[*subscriber]struct{}
	ended bool
}

type processes struct {
	mu     sync.Mutex
	byPid  map[uint32]*process
	config *config
}

func newProcesses(cfg *config) *processes {
	return &processes{byPid: map[uint32]*process{}, config: cfg}
}

func (p *process) subscribe() *subscriber {
	sub := &subscriber{events: make(chan ProcessEvent, 16), gone: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return nil
	}
	p.subs[sub] = struct{}{}
	return sub
}

func (p *process) unsubscribe(sub *subscriber) {
	p.mu.Lock()
	delete(p.subs, sub)
	p.mu.Unlock()
	close(sub.gone)
}

// publish hands an event to every watcher, waiting for each (so output is never
// piled up in memory) unless it has gone.
func (p *process) publish(event ProcessEvent) {
	p.mu.Lock()
	subs := make([]*subscriber, 0, len(p.subs))
	for sub := range p.subs {
		subs = append(subs, sub)
	}
	p.mu.Unlock()
	for _, sub := range subs {
		select {
		case sub.events <- event:
		case <-sub.gone:
		}
	}
}

func (ps *processes) find(selector *ProcessSelector) (*process, error) {
	if selector == nil || (selector.Pid == nil && selector.Tag == nil) {
		return nil, errorf("invalid_argument", "a process is chosen by pid or tag")
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, proc := range ps.byPid {
		if (selector.Pid != nil && proc.pid == *selector.Pid) || (selector.Tag != nil && proc.tag != nil && *proc.tag == *selector.Tag) {
			return proc, nil
		}
	}
	if selector.Pid != nil {
		return nil, errorf("not_found", "process with pid %d not found", *selector.Pid)
	}
	return nil, errorf("not_found", "process with tag %q not found", *selector.Tag)
}

// environment is what a child gets: the agent's PATH, the user's HOME and USER,
// the sandbox-wide variables, then the request's.
func (ps *processes) environment(acct *account, envs map[string]string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	merged := map[string]string{"PATH": path, "HOME": acct.home, "USER": acct.name, "LOGNAME": acct.name}
	for key, value := range ps.config.sandboxEnvs() {
		merged[key] = value
	}
	for key, value := range envs {
		merged[key] = value
	}
	list := make([]string, 0, len(merged))
	for key, value := range merged {
		list = append(list, key+"="+value)
	}
	sort.Strings(list)
	return list
}

// shellOf is the program to run: the SDK asks for /bin/bash, which an image may
// not have; /bin/sh then takes its place (the SDK passes -l, -i and -c, which sh
// takes too).
func shellOf(cmd string) string {
	if cmd == "/bin/bash" {
		if _, err := os.Stat(cmd); err != nil {
			return "/bin/sh"
		}
	}
	return cmd
}

func (ps *processes) start(acct *account, req *StartRequest) (*process, *subscriber, error) {
	if req.Process == nil || req.Process.Cmd == "" {
		return nil, nil, errorf("invalid_argument", "process.cmd is required")
	}
	cmd := exec.Command(shellOf(req.Process.Cmd), req.Process.Args...)
	cmd.Env = ps.environment(acct, req.Process.Envs)
	cmd.Dir = acct.home
	if ps.config.workdir != "" {
		cmd.Dir = ps.config.workdir
	}
	if req.Process.Cwd != nil && *req.Process.Cwd != "" {
		cmd.Dir = acct.resolve(*req.Process.Cwd)
	}
	if info, err := os.Stat(cmd.Dir); err != nil || !info.IsDir() {
		if req.Process.Cwd != nil {
			return nil, nil, errorf("invalid_argument", "cwd %q is not a directory", cmd.Dir)
		}
		cmd.Dir = "/"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.credential(), Setpgid: true}
	proc := &process{tag: req.Tag, config: *req.Process, cmd: cmd, subs: map[*subscriber]struct{}{}}
	var readers []io.ReadCloser
	var kinds []string
	if req.PTY != nil {
		master, slave, err := openPTY(req.PTY.Size)
		if err != nil {
			return nil, nil, errorf("internal", "opening a PTY: %v", err)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.credential(), Setsid: true, Setctty: true, Ctty: 0}
		proc.pty = master
		defer slave.Close()
		readers, kinds = []io.ReadCloser{master}, []string{"pty"}
	} else {
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return nil, nil, err
		}
		if req.Stdin != nil && *req.Stdin {
			if proc.stdin, err = cmd.StdinPipe(); err != nil {
				return nil, nil, err
			}
		}
		readers, kinds = []io.ReadCloser{stdout, stderr}, []string{"stdout", "stderr"}
	}
	sub := proc.subscribe()
	if err := cmd.Start(); err != nil {
		if proc.pty != nil {
			proc.pty.Close()
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return nil, nil, errorf("not_found", "%v", err)
		}
		return nil, nil, errorf("internal", "starting %s: %v", req.Process.Cmd, err)
	}
	proc.pid = uint32(cmd.Process.Pid)
	ps.mu.Lock()
	ps.byPid[proc.pid] = proc
	ps.mu.Unlock()
	go ps.run(proc, readers, kinds)
	return proc, sub, nil
}

// run relays the output until every reader ends, then reaps the process and
// sends its end.
func (ps *processes) run(proc *process, readers []io.ReadCloser, kinds []string) {
	var relays sync.WaitGroup
	for i, reader := range readers {
		relays.Add(1)
		go func(reader io.Reader, kind string) {
			defer relays.Done()
			buffer := make([]byte, 32<<10)
			for {
				n, err := reader.Read(buffer)
				if n > 0 {
					chunk := append([]byte(nil), buffer[:n]...)
					data := &DataEvent{}
					switch kind {
					case "stdout":
						data.Stdout = chunk
					case "stderr":
						data.Stderr = chunk
					default:
						data.PTY = chunk
					}
					proc.publish(ProcessEvent{Data: data})
				}
				if err != nil {
					return
				}
			}
		}(reader, kinds[i])
	}
	relays.Wait()
	err := proc.cmd.Wait()
	proc.mu.Lock()
	proc.ended = true // no signal goes to its pid, which may be another's now
	proc.mu.Unlock()
	if proc.pty != nil {
		proc.pty.Close()
	}
	end := &EndEvent{}
	if state := proc.cmd.ProcessState; state != nil {
		end.ExitCode = int32(state.ExitCode())
		end.Exited = state.Exited()
		end.Status = state.String()
	}
	if err != nil && proc.cmd.ProcessState == nil {
		message := err.Error()
		end.Error = &message
	}
	ps.mu.Lock()
	delete(ps.byPid, proc.pid)
	ps.mu.Unlock()
	proc.mu.Lock()
	if proc.stdin != nil {
		proc.stdin.Close()
		proc.stdin = nil
	}
	proc.mu.Unlock()
	proc.publish(ProcessEvent{End: end})
}

func (p *process) hasEnded() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended
}

// signal sends a signal to the process's group (a shell's children too).
func (p *process) signal(sig syscall.Signal) error {
	if p.hasEnded() {
		return nil
	}
	if err := syscall.Kill(-int(p.pid), sig); err != nil {
		if err := syscall.Kill(int(p.pid), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return errorf("internal", "signalling %d: %v", p.pid, err)
		}
	}
	return nil
}

// follow sends a process's events to a stream: its start, then what it outputs,
// until its end, the client leaving, or the deadline (which kills it).
func follow(ctx context.Context, r *http.Request, proc *process, sub *subscriber, out *stream) error {
	defer proc.unsubscribe(sub)
	out.keepAlive(ctx, r, ProcessStream{Event: ProcessEvent{Keepalive: &Empty{}}})
	if err := out.Send(ProcessStream{Event: ProcessEvent{Start: &StartEvent{Pid: proc.pid}}}); err != nil {
		return err
	}
	for {
		select {
		case event := <-sub.events:
			if err := out.Send(ProcessStream{Event: event}); err != nil {
				return err
			}
			if event.End != nil {
				return nil
			}
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				_ = proc.signal(syscall.SIGKILL)
				return errorf("deadline_exceeded", "the process ran past the stream's timeout and was killed")
			}
			return errorf("canceled", "the client left")
		}
	}
}

func (s *server) processStart(ctx context.Context, r *http.Request, req *StartRequest, out *stream) error {
	acct, err := s.rpcAccount(r)
	if err != nil {
		return err
	}
	proc, sub, err := s.processes.start(acct, req)
	if err != nil {
		return err
	}
	// The stream's timeout is the process's: it is killed then, whether or not
	// the client is still there to see it.
	if deadline, ok := ctx.Deadline(); ok {
		timer := time.AfterFunc(time.Until(deadline), func() { _ = proc.signal(syscall.SIGKILL) })
		defer func() {
			if proc.hasEnded() {
				timer.Stop()
			}
		}()
	}
	return follow(ctx, r, proc, sub, out)
}

func (s *server) processConnect(ctx context.Context, r *http.Request, req *ConnectRequest, out *stream) error {
	proc, err := s.processes.find(req.Process)
	if err != nil {
		return err
	}
	sub := proc.subscribe()
	if sub == nil {
		return errorf("not_found", "process %d has ended", proc.pid)
	}
	return follow(ctx, r, proc, sub, out)
}

func (s *server) processList(r *http.Request, req *ListRequest) (*ListResponse, error) {
	s.processes.mu.Lock()
	defer s.processes.mu.Unlock()
	list := &ListResponse{Processes: []ProcessInfo{}}
	for _, proc := range s.processes.byPid {
		list.Processes = append(list.Processes, ProcessInfo{Config: proc.config, Pid: proc.pid, Tag: proc.tag})
	}
	sort.Slice(list.Processes, func(i, j int) bool { return list.Processes[i].Pid < list.Processes[j].Pid })
	return list, nil
}

func (s *server) processSendInput(r *http.Request, req *SendInputRequest) (*Empty, error) {
	proc, err := s.processes.find(req.Process)
	if err != nil {
		return nil, err
	}
	if req.Input == nil {
		return &Empty{}, nil
	}
	if req.Input.PTY != nil {
		if proc.pty == nil {
			return nil, errorf("failed_precondition", "process %d has no PTY", proc.pid)
		}
		_, err = proc.pty.Write(req.Input.PTY)
	} else {
		proc.mu.Lock()
		stdin := proc.stdin
		proc.mu.Unlock()
		if stdin == nil {
			return nil, errorf("failed_precondition", "process %d has no open stdin (start it with stdin: true)", proc.pid)
		}
		_, err = stdin.Write(req.Input.Stdin)
	}
	if err != nil {
		return nil, errorf("failed_precondition", "writing to process %d: %v", proc.pid, err)
	}
	return &Empty{}, nil
}

func (s *server) processCloseStdin(r *http.Request, req *CloseStdinRequest) (*Empty, error) {
	proc, err := s.processes.find(req.Process)
	if err != nil {
		return nil, err
	}
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.pty != nil {
		return nil, errorf("failed_precondition", "process %d has a PTY: send EOT (0x04) instead", proc.pid)
	}
	if proc.stdin != nil {
		proc.stdin.Close()
		proc.stdin = nil
	}
	return &Empty{}, nil
}

func (s *server) processSendSignal(r *http.Request, req *SendSignalRequest) (*Empty, error) {
	proc, err := s.processes.find(req.Process)
	if err != nil {
		return nil, err
	}
	var sig syscall.Signal
	switch req.Signal {
	case 9:
		sig = syscall.SIGKILL
	case 15:
		sig = syscall.SIGTERM
	default:
		return nil, errorf("invalid_argument", "signal %d: only SIGNAL_SIGKILL and SIGNAL_SIGTERM", req.Signal)
	}
	if err := proc.signal(sig); err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

func (s *server) processUpdate(r *http.Request, req *UpdateRequest) (*Empty, error) {
	proc, err := s.processes.find(req.Process)
	if err != nil {
		return nil, err
	}
	if req.PTY == nil || req.PTY.Size == nil {
		return &Empty{}, nil
	}
	if proc.pty == nil {
		return nil, errorf("failed_precondition", "process %d has no PTY", proc.pid)
	}
	if err := resizePTY(proc.pty, req.PTY.Size); err != nil {
		return nil, errorf("internal", "resizing: %v", err)
	}
	return &Empty{}, nil
}

func (s *server) processStreamInput(r *http.Request, req *Empty) (*Empty, error) {
	return nil, fmt.Errorf("%w", errorf("unimplemented", "StreamInput needs a client stream, which the SDKs never open: use SendInput"))
}

// startCommand runs a template's start command as the default user, tagged
// "start", its output relayed to whoever connects to it.
func (s *server) startCommand(command string) {
	acct, err := lookupAccount(s.config.user)
	if err != nil {
		log.Printf("start command: %v", err)
		return
	}
	tag := "start"
	proc, sub, err := s.processes.start(acct, &StartRequest{Process: &ProcessConfig{Cmd: "/bin/bash", Args: []string{"-l", "-c", command}}, Tag: &tag})
	if err != nil {
		log.Printf("start command: %v", err)
		return
	}
	go func() {
		// Nobody follows it from the start: its events are let through.
		for event := range sub.events {
			if event.End != nil {
				proc.unsubscribe(sub)
				return
			}
		}
	}()
}
