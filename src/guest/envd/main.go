// hangar-envd: the agent inside an E2B-style sandbox. It speaks envd's protocol
// (process and filesystem services over Connect with JSON, /health, /files) on
// port 49983, so that the E2B SDK runs unchanged against a hangar machine.
//
// Configuration comes from the environment, which it then removes so that no
// process it starts sees it: HANGAR_ENVD_TOKEN (the access token; none: open),
// HANGAR_ENVD_USER (the default user, else the agent's own), HANGAR_ENVD_WORKDIR,
// HANGAR_ENVD_ENVS (sandbox-wide variables, as NAME=VALUE lines).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/user"
	"time"
)

// version is the envd version the agent's features match (the SDK gates on it).
const version = "0.5.7"

func configFromEnvironment() *config {
	cfg := &config{token: os.Getenv("HANGAR_ENVD_TOKEN"), user: os.Getenv("HANGAR_ENVD_USER"), workdir: os.Getenv("HANGAR_ENVD_WORKDIR"), envs: map[string]string{}, version: version}
	if text := os.Getenv("HANGAR_ENVD_ENVS"); text != "" {
		if err := json.Unmarshal([]byte(text), &cfg.envs); err != nil {
			log.Printf("HANGAR_ENVD_ENVS is not a JSON object of strings, ignored: %v", err)
			cfg.envs = map[string]string{}
		}
	}
	cfg.start = os.Getenv("HANGAR_ENVD_START")
	for _, name := range []string{"HANGAR_ENVD_TOKEN", "HANGAR_ENVD_USER", "HANGAR_ENVD_WORKDIR", "HANGAR_ENVD_ENVS", "HANGAR_ENVD_START"} {
		os.Unsetenv(name)
	}
	if cfg.user == "" {
		cfg.user = "root"
		if me, err := user.Current(); err == nil && me.Username != "" && os.Geteuid() != 0 {
			cfg.user = me.Username
		}
	}
	return cfg
}

func main() {
	listen := flag.String("listen", ":49983", "address to serve on (all addresses, IPv6 and IPv4, by default)")
	showVersion := flag.Bool("version", false, "print the envd version served and exit")
	control := flag.String("control", "/run/hangar-envd.sock", "the control socket (root only)")
	initMode := flag.Bool("init", false, "send standard input (JSON: accessToken, envVars) to the running agent's control socket, and exit")
	metricsMode := flag.Bool("metrics", false, "print the running agent's resource samples (JSON), and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if *initMode {
		if err := sendInit(*control); err != nil {
			fmt.Fprintln(os.Stderr, "hangar-envd -init:", err)
			os.Exit(1)
		}
		return
	}
	if *metricsMode {
		if err := printMetrics(*control); err != nil {
			fmt.Fprintln(os.Stderr, "hangar-envd -metrics:", err)
			os.Exit(1)
		}
		return
	}
	cfg := configFromEnvironment()
	samples := &sampler{}
	go samples.run()
	if err := serveControl(cfg, samples, *control); err != nil {
		log.Printf("no control socket at %s: %v", *control, err)
	}
	handler := newServer(cfg)
	if cfg.start != "" {
		handler.startCommand(cfg.start)
	}
	server := &http.Server{
		Addr:              *listen,
		Handler:           handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       640 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	log.Printf("hangar-envd %s on %s", version, *listen)
	log.Fatal(server.ListenAndServe())
}
