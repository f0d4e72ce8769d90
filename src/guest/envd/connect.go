// The Connect protocol with the JSON codec, as the E2B SDK speaks it to envd
// (connectrpc.com/docs/protocol): unary calls are a JSON body answered by a JSON
// body, or an error status with {"code","message"}; server streams take one
// enveloped request (flag byte, 4-byte big-endian length, JSON) and answer
// enveloped messages, flushed as they are made, ending with an end-stream
// envelope (flag 0x02) that carries the error, if any.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// maxMessage bounds one request message: stdin chunks and paths, not files.
const maxMessage = 4 << 20

// rpcError is a Connect error: a code from the protocol's list and a message.
type rpcError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *rpcError {
	return &rpcError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// httpStatus is the status a unary error is answered with (Connect's table).
var httpStatus = map[string]int{
	"canceled": 499, "unknown": 500, "invalid_argument": 400, "deadline_exceeded": 504,
	"not_found": 404, "already_exists": 409, "permission_denied": 403, "resource_exhausted": 429,
	"failed_precondition": 400, "aborted": 409, "out_of_range": 400, "unimplemented": 501,
	"internal": 500, "unavailable": 503, "data_loss": 500, "unauthenticated": 401,
}

func asRPCError(err error) *rpcError {
	var rpc *rpcError
	if errors.As(err, &rpc) {
		return rpc
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errorf("deadline_exceeded", "%v", err)
	}
	return errorf("internal", "%v", err)
}

func mediaType(r *http.Request) string {
	kind, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return kind
}

func writeJSON(w http.ResponseWriter, status int, value any) {
	body, err := json.Marshal(value)
	if err != nil {
		status, body = 500, []byte(`{"code":"internal","message":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeUnaryError(w http.ResponseWriter, err error) {
	rpc := asRPCError(err)
	status, ok := httpStatus[rpc.Code]
	if !ok {
		status = 500
	}
	writeJSON(w, status, rpc)
}

// unary serves a unary method: the request decoded into Req, the answer encoded.
func unary[Req any, Res any](call func(r *http.Request, req *Req) (*Res, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if kind := mediaType(r); kind != "application/json" {
			writeJSON(w, http.StatusUnsupportedMediaType, errorf("unknown", "content type %q: only application/json is served", kind))
			return
		}
		var req Req
		if err := decodeMessage(io.LimitReader(r.Body, maxMessage+1), &req); err != nil {
			writeUnaryError(w, err)
			return
		}
		res, err := call(r, &req)
		if err != nil {
			writeUnaryError(w, err)
			return
		}
		writeJSON(w, 200, res)
	}
}

func decodeMessage(body io.Reader, into any) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return errorf("invalid_argument", "reading the request: %v", err)
	}
	if len(data) > maxMessage {
		return errorf("resource_exhausted", "the request is over %d bytes", maxMessage)
	}
	if len(data) == 0 {
		data = []byte("{}")
	}
	if err := json.Unmarshal(data, into); err != nil {
		return errorf("invalid_argument", "the request is not the JSON of its message: %v", err)
	}
	return nil
}

// stream is the sending side of a server stream.
type stream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	flusher http.Flusher
	sent    time.Time
}

// Send writes one message and flushes it.
func (s *stream) Send(message any) error {
	body, err := json.Marshal(message)
	if err != nil {
		return err
	}
	return s.envelope(0, body)
}

func (s *stream) envelope(flags byte, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	head := make([]byte, 5, 5+len(body))
	head[0] = flags
	binary.BigEndian.PutUint32(head[1:], uint32(len(body)))
	if _, err := s.w.Write(append(head, body...)); err != nil {
		return err
	}
	s.flusher.Flush()
	s.sent = time.Now()
	return nil
}

// quietFor is how long nothing has been sent.
func (s *stream) quietFor() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Since(s.sent)
}

// keepAlive sends `message` whenever the stream has been quiet for the client's
// Keepalive-Ping-Interval (seconds), until ctx ends.
func (s *stream) keepAlive(ctx context.Context, r *http.Request, message any) {
	seconds, err := strconv.Atoi(r.Header.Get("Keepalive-Ping-Interval"))
	if err != nil || seconds <= 0 {
		return
	}
	interval := time.Duration(seconds) * time.Second
	go func() {
		ticker := time.NewTicker(interval / 4)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				if s.quietFor() >= interval {
					_ = s.Send(message)
				}
			}
		}
	}()
}

// streamTimeout is the Connect-Timeout-Ms the client gave (0: none).
func streamTimeout(r *http.Request) (time.Duration, error) {
	value := r.Header.Get("Connect-Timeout-Ms")
	if value == "" {
		return 0, nil
	}
	ms, err := strconv.ParseInt(value, 10, 64)
	if err != nil || ms < 0 || len(value) > 10 {
		return 0, errorf("invalid_argument", "Connect-Timeout-Ms %q is not a number of milliseconds", value)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func readEnvelope(body io.Reader) ([]byte, error) {
	head := make([]byte, 5)
	if _, err := io.ReadFull(body, head); err != nil {
		return nil, errorf("invalid_argument", "the request is not an enveloped message: %v", err)
	}
	if head[0] != 0 {
		return nil, errorf("invalid_argument", "request envelope flags %#x: compressed or end-stream requests are not served", head[0])
	}
	size := binary.BigEndian.Uint32(head[1:])
	if size > maxMessage {
		return nil, errorf("resource_exhausted", "the request message is %d bytes, over %d", size, maxMessage)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(body, data); err != nil {
		return nil, errorf("invalid_argument", "the request message is cut short: %v", err)
	}
	return data, nil
}

// serverStream serves a server-streaming method: call sends messages until it
// returns; its error, if any, goes in the end-stream envelope.
func serverStream[Req any](call func(ctx context.Context, r *http.Request, req *Req, out *stream) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if kind := mediaType(r); kind != "application/connect+json" {
			writeJSON(w, http.StatusUnsupportedMediaType, errorf("unknown", "content type %q: only application/connect+json is served for streams", kind))
			return
		}
		flusher, ok := w.(http.Flusher)
		if !ok {
			writeUnaryError(w, errorf("internal", "the connection cannot stream"))
			return
		}
		out := &stream{w: w, flusher: flusher, sent: time.Now()}
		var req Req
		timeout, err := streamTimeout(r)
		if err == nil {
			var data []byte
			if data, err = readEnvelope(r.Body); err == nil {
				err = decodeMessage(bytes.NewReader(data), &req)
			}
		}
		w.Header().Set("Content-Type", "application/connect+json")
		w.WriteHeader(200)
		flusher.Flush()
		if err == nil {
			ctx := r.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			err = call(ctx, r, &req, out)
		}
		end := []byte("{}")
		if err != nil {
			end, _ = json.Marshal(map[string]any{"error": asRPCError(err)})
		}
		_ = out.envelope(2, end)
	}
}
