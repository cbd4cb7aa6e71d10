package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cpuSample is the host's CPU time at one moment, from /proc/stat's first
// line: jiffies spent busy (all but idle and iowait) and in all.
type cpuSample struct {
	at          time.Time
	busy, total uint64
}

// readProcStat reads the host's CPU times now.
func readProcStat() (cpuSample, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuSample{}, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return cpuSample{}, err
	}
	return parseProcStat(line, time.Now())
}

// parseProcStat parses the "cpu  user nice system idle iowait irq softirq
// steal ..." line of /proc/stat.
func parseProcStat(line string, at time.Time) (cpuSample, error) {
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return cpuSample{}, fmt.Errorf("not /proc/stat's cpu line: %q", line)
	}
	s := cpuSample{at: at}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("/proc/stat's cpu line: %w", err)
		}
		if i >= 8 { // guest times are counted in user and nice already
			break
		}
		s.total += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
	}
	return s, nil
}

// sampleCPU appends a line "UNIX-MILLIS BUSY TOTAL" to w every interval until
// ctx ends.
func sampleCPU(ctx context.Context, interval time.Duration, w io.Writer) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s, err := readProcStat()
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%d %d %d\n", s.at.UnixMilli(), s.busy, s.total); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// readCPU reads the samples sampleCPU wrote; a missing file is no samples.
func readCPU(file string) ([]cpuSample, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ss []cpuSample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ms int64
		var s cpuSample
		if n, _ := fmt.Sscan(sc.Text(), &ms, &s.busy, &s.total); n != 3 {
			continue // a line cut short when the sampler was stopped
		}
		s.at = time.UnixMilli(ms)
		ss = append(ss, s)
	}
	return ss, sc.Err()
}

// busy is the share of the host's CPU (all cores) that was busy from t0 to
// t1, from the samples nearest inside that window; ok is false when fewer
// than two samples fall in it.
func busy(ss []cpuSample, t0, t1 time.Time) (share float64, ok bool) {
	i := sort.Search(len(ss), func(i int) bool { return !ss[i].at.Before(t0) })
	j := sort.Search(len(ss), func(j int) bool { return ss[j].at.After(t1) }) - 1
	if i >= len(ss) || j <= i || ss[j].total == ss[i].total {
		return 0, false
	}
	return float64(ss[j].busy-ss[i].busy) / float64(ss[j].total-ss[i].total), true
}

// percent prints busy's share as "63%", or "-" when there were no samples.
func percent(share float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", share*100)
}
