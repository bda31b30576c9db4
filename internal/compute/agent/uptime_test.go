package agent

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

func TestUptimeLine(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 32, 11, 0, time.Local)
	load := [3]float64{0.2, 0.123, 0.14}
	for _, tc := range []struct {
		up    time.Duration
		users int
		want  string
	}{
		{93*24*time.Hour + 18*time.Hour + 25*time.Minute + 30*time.Second, 1,
			" 08:32:11 up 93 days, 18:25,  1 user,  load average: 0.20, 0.12, 0.14"},
		{24*time.Hour + 3*time.Minute, 0, " 08:32:11 up 1 day, 3 min,  0 user,  load average: 0.20, 0.12, 0.14"},
		{5*time.Hour + 52*time.Minute, 2, " 08:32:11 up  5:52,  2 users,  load average: 0.20, 0.12, 0.14"},
		{42 * time.Second, 12, " 08:32:11 up 0 min, 12 users,  load average: 0.20, 0.12, 0.14"},
	} {
		if got := uptimeLine(at, tc.up, tc.users, load); got != tc.want {
			t.Errorf("uptimeLine(%v, %d) = %q, want %q", tc.up, tc.users, got, tc.want)
		}
	}
}

func TestUptimeFiles(t *testing.T) {
	dir := t.TempDir()
	f := procFiles{uptime: filepath.Join(dir, "uptime"), loadavg: filepath.Join(dir, "loadavg"), utmp: filepath.Join(dir, "utmp")}
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(f.uptime, "8103900.51 1234.5\n")
	write(f.loadavg, "1.50 0.75 0.05 2/345 6789\n")
	utmp := make([]byte, 3*384)
	utmp[0], utmp[44] = 7, 'u' // a user's session
	utmp[384] = 7              // a USER_PROCESS without a name: not counted
	utmp[768], utmp[768+44] = 8, 'x'
	write(f.utmp, string(utmp))
	at := time.Date(2026, 3, 1, 23, 5, 0, 0, time.Local)
	got, err := f.read(at)
	if want := " 23:05:00 up 93 days, 19:05,  1 user,  load average: 1.50, 0.75, 0.05"; err != nil || got != want {
		t.Errorf("read = %q, %v; want %q", got, err, want)
	}
	write(f.loadavg, "garbage")
	if _, err := f.read(at); err == nil {
		t.Error("read of a bad loadavg: no error")
	}
}

// The agent answers the host's uptime over the bus, without an instance,
// whatever its driver: fake hosts too.
func TestHostUptimeOverBus(t *testing.T) {
	if _, err := os.Stat(hostProc.uptime); err != nil {
		t.Skipf("no %s: %v", hostProc.uptime, err)
	}
	e := newEnv(t)
	e.start(e.options(fake.New(fake.Config{})))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rep, err := e.client.Call(ctx, testHost, rpc.Request{Op: rpc.HostUptime})
	if err != nil || !rep.OK || rep.Output == nil {
		t.Fatalf("get_host_uptime: %+v, %v", rep, err)
	}
	line := regexp.MustCompile(`^ \d\d:\d\d:\d\d up (\d+ days?, )?(\d+ min|[ \d]\d:\d\d), +\d+ users?,  load average: \d+\.\d\d, \d+\.\d\d, \d+\.\d\d$`)
	if !line.MatchString(*rep.Output) {
		t.Errorf("uptime %q is not uptime's line", *rep.Output)
	}
	e.noUpdate(300*time.Millisecond, "an update for a host operation", func(rpc.Update) bool { return true })
}
