// Resource samples, as E2B's sandbox metrics: at start and then every 5 s (on
// 5 s boundaries), the CPUs' use since the sample before, memory, and the root
// filesystem. The last hour is kept. hangar reads them through the control
// socket (`hangar-envd -metrics`) with the agent's clock, so that it can put
// them on its own clock.
package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	sampleEvery = 5 * time.Second
	samplesKept = 720
)

type sample struct {
	Ts         int64   `json:"ts"` // unix milliseconds, the agent's clock
	CPUCount   int     `json:"cpuCount"`
	CPUUsedPct float64 `json:"cpuUsedPct"`
	MemUsed    uint64  `json:"memUsed"`
	MemTotal   uint64  `json:"memTotal"`
	MemCache   uint64  `json:"memCache"`
	DiskUsed   uint64  `json:"diskUsed"`
	DiskTotal  uint64  `json:"diskTotal"`
}

type sampler struct {
	mu        sync.Mutex
	samples   []sample
	lastBusy  uint64
	lastTotal uint64
}

// run samples now and then on every 5 s boundary, for ever.
func (s *sampler) run() {
	for {
		s.take(time.Now())
		now := time.Now()
		time.Sleep(now.Truncate(sampleEvery).Add(sampleEvery).Sub(now))
	}
}

func (s *sampler) take(at time.Time) {
	busy, total := cpuTimes()
	mem := memInfo()
	var disk syscall.Statfs_t
	_ = syscall.Statfs("/", &disk)
	s.mu.Lock()
	defer s.mu.Unlock()
	used := 0.0
	if total > s.lastTotal && busy >= s.lastBusy {
		used = 100 * float64(busy-s.lastBusy) / float64(total-s.lastTotal)
	}
	s.lastBusy, s.lastTotal = busy, total
	s.samples = append(s.samples, sample{
		Ts: at.UnixMilli(), CPUCount: runtime.NumCPU(), CPUUsedPct: float64(int(used*100)) / 100,
		MemUsed: mem["MemTotal"] - mem["MemAvailable"], MemTotal: mem["MemTotal"], MemCache: mem["Cached"] + mem["Buffers"],
		DiskUsed: (disk.Blocks - disk.Bfree) * uint64(disk.Bsize), DiskTotal: disk.Blocks * uint64(disk.Bsize),
	})
	if len(s.samples) > samplesKept {
		s.samples = s.samples[len(s.samples)-samplesKept:]
	}
}

func (s *sampler) all() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sample{}, s.samples...)
}

// cpuTimes is the CPUs' busy and total time since boot, in ticks (/proc/stat).
func cpuTimes() (busy, total uint64) {
	file, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer file.Close()
	line, _ := bufio.NewReader(file).ReadString('\n')
	fields := strings.Fields(line)
	for i := 1; i < len(fields) && i <= 8; i++ {
		ticks, _ := strconv.ParseUint(fields[i], 10, 64)
		total += ticks
		if i != 4 && i != 5 { // idle, iowait
			busy += ticks
		}
	}
	return busy, total
}

// memInfo is /proc/meminfo, in bytes.
func memInfo() map[string]uint64 {
	values := map[string]uint64{}
	file, err := os.Open("/proc/meminfo")
	if err != nil {
		return values
	}
	defer file.Close()
	lines := bufio.NewScanner(file)
	for lines.Scan() {
		fields := strings.Fields(lines.Text())
		if len(fields) >= 2 {
			kib, _ := strconv.ParseUint(fields[1], 10, 64)
			values[strings.TrimSuffix(fields[0], ":")] = kib * 1024
		}
	}
	return values
}
