// The agent's control socket: a unix socket only root can reach, for what hangar
// (through hangar-init's exec) tells the agent after a fork: the new sandbox's
// access token and variables, as E2B's orchestrator tells envd by POST /init
// (`hangar-envd -init` sends its standard input there); and for the resource
// samples hangar reads (`hangar-envd -metrics` prints them).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

type initRequest struct {
	AccessToken string            `json:"accessToken"`
	EnvVars     map[string]string `json:"envVars"`
}

// serveControl serves POST /init and GET /metrics on the unix socket at path.
func serveControl(cfg *config, samples *sampler, path string) error {
	_ = os.Remove(path)
	listener, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/init", func(w http.ResponseWriter, r *http.Request) {
		var req initRequest
		if r.Method != http.MethodPost || json.NewDecoder(io.LimitReader(r.Body, maxMessage)).Decode(&req) != nil {
			restError(w, 400, "POST a JSON object: accessToken, envVars")
			return
		}
		cfg.reinit(req.AccessToken, req.EnvVars)
		w.WriteHeader(204)
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]interface{}{"now": time.Now().UnixMilli(), "samples": samples.all()})
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(listener) }()
	return nil
}

func controlClient(path string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
}

// sendInit is `hangar-envd -init`: stdin to the running agent's /init.
func sendInit(path string) error {
	body, err := io.ReadAll(io.LimitReader(os.Stdin, maxMessage))
	if err != nil {
		return err
	}
	reply, err := controlClient(path).Post("http://agent/init", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer reply.Body.Close()
	if reply.StatusCode != 204 {
		said, _ := io.ReadAll(io.LimitReader(reply.Body, 4096))
		return fmt.Errorf("the agent answered %d: %s", reply.StatusCode, said)
	}
	return nil
}

// printMetrics is `hangar-envd -metrics`: the running agent's samples, to stdout.
func printMetrics(path string) error {
	reply, err := controlClient(path).Get("http://agent/metrics")
	if err != nil {
		return err
	}
	defer reply.Body.Close()
	if reply.StatusCode != 200 {
		return fmt.Errorf("the agent answered %d", reply.StatusCode)
	}
	_, err = io.Copy(os.Stdout, reply.Body)
	return err
}
