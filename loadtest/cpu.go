package main

import (
	"os"
	"strconv"
	"strings"
)

// cpuTimes is a sample of CPU time in clock ticks from /proc: the whole
// machine's (total and busy, steal included), and the system under test's
// (this process and the redis-server it started). On a shared machine the
// difference says how much of the CPUs something else took during a
// measurement, so a disturbed run can be told from a quiet one.
type cpuTimes struct{ total, busy, own uint64 }

// readCPU samples the machine and this process plus pids. Zero without /proc.
func readCPU(pids ...int) cpuTimes {
	var c cpuTimes
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return c
	}
	for i, s := range f[1:9] { // user nice system idle iowait irq softirq steal
		v, _ := strconv.ParseUint(s, 10, 64)
		c.total += v
		if i != 3 && i != 4 {
			c.busy += v
		}
	}
	c.own = procTicks("self")
	for _, pid := range pids {
		c.own += procTicks(strconv.Itoa(pid))
	}
	return c
}

// procTicks returns a process's user plus system time.
func procTicks(pid string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return u + s
}

// others returns the share of the machine's CPU time between a and b
// that went to other processes (or was stolen from this VM).
func others(a, b cpuTimes) float64 {
	total := b.total - a.total
	if total == 0 || b.busy < a.busy {
		return 0
	}
	busy, own := b.busy-a.busy, b.own-a.own
	if own >= busy {
		return 0
	}
	return float64(busy-own) / float64(total)
}
