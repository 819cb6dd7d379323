package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// mem is the process's resident memory from /proc/self/status, in KiB:
// VmRSS now and VmHWM, its peak so far. Zero where there is no /proc.
type mem struct{ rss, hwm uint64 }

func readMem() mem {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return mem{}
	}
	defer f.Close()
	var m mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch k {
		case "VmRSS":
			dst = &m.rss
		case "VmHWM":
			dst = &m.hwm
		default:
			continue
		}
		*dst, _ = strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	}
	return m
}

// mib formats KiB as MiB.
func mib(kib uint64) string {
	if kib == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", float64(kib)/1024)
}

// fmtDur formats a latency in milliseconds.
func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// thousands formats n with commas.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// machine describes where the run happened.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), GOMAXPROCS %d, %s %s/%s",
		runtime.NumCPU(), model, runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// printReport writes the results as Markdown.
func printReport(w io.Writer, cfg config, rows []row, start, end mem) {
	bound := cfg.Duration.String() + " each"
	if cfg.Requests > 0 {
		bound = thousands(cfg.Requests) + " requests each"
	}
	fmt.Fprintf(w, "Machine: %s. Concurrency %d; valid-session scenarios: %s after a warm-up; storms: %d concurrent requests per session.\n\n",
		machine(), cfg.Concurrency, bound, cfg.PerSession)
	fmt.Fprintln(w, "| sessions in | scenario | requests | time | req/s | p50 | p99 | errors | refresh grants | reuse | RSS MiB: before → after (after GC) |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		req := thousands(r.requests)
		if r.posts > 0 {
			// try-refresh: a request is timed from its first send to
			// its retry's answer.
			req += fmt.Sprintf(" (%s HTTP incl. %s POST)", thousands(r.sent), thousands(r.posts))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f s | %s | %s | %s | %d | %s | %d | %s → %s (%s) |\n",
			storeTitles[r.store], r.scenario, req, r.elapsed.Seconds(), thousands(int(r.rate()+0.5)),
			fmtDur(percentile(r.lat, 50)), fmtDur(percentile(r.lat, 99)),
			r.errors, thousands(r.grants), r.reuse, mib(r.before.rss), mib(r.after.rss), mib(r.retained.rss))
	}
	worst := 0.0
	for _, r := range rows {
		worst = max(worst, r.others)
	}
	fmt.Fprintf(w, "\nRSS at start %s MiB, at end %s MiB, peak (VmHWM) %s MiB. Other processes took at most %.0f%% of the CPUs during a measured run.\n",
		mib(start.rss), mib(end.rss), mib(end.hwm), 100*worst)
}
