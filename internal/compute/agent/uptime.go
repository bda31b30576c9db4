package agent

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// The host's uptime (rpc.HostUptime), as Nova's libvirt driver answers
// it: the output of `uptime`. It is read from /proc rather than by running
// the command, which a minimal host may not have.

// procFiles are where the host's uptime, load and logins are read; tests
// point them elsewhere.
type procFiles struct {
	uptime, loadavg, utmp string
}

var hostProc = procFiles{uptime: "/proc/uptime", loadavg: "/proc/loadavg", utmp: "/run/utmp"}

// hostUptime answers a HostUptime request.
func (a *Agent) hostUptime() rpc.Reply {
	out, err := hostProc.read(time.Now())
	if err != nil {
		a.log.Warn("host uptime", "err", err)
		return fail(hypervisor.NoState, rpc.Errorf(rpc.CodeFailed, false, "cannot read the host's uptime: %v", err))
	}
	return rpc.Reply{OK: true, Output: &out}
}

func (f procFiles) read(now time.Time) (string, error) {
	up, err := os.ReadFile(f.uptime)
	if err != nil {
		return "", err
	}
	fields := strings.Fields(string(up))
	if len(fields) == 0 {
		return "", fmt.Errorf("%s: empty", f.uptime)
	}
	secs, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.uptime, err)
	}
	la, err := os.ReadFile(f.loadavg)
	if err != nil {
		return "", err
	}
	var load [3]float64
	fields = strings.Fields(string(la))
	if len(fields) < 3 {
		return "", fmt.Errorf("%s: want three load averages, have %q", f.loadavg, la)
	}
	for i := range load {
		if load[i], err = strconv.ParseFloat(fields[i], 64); err != nil {
			return "", fmt.Errorf("%s: %w", f.loadavg, err)
		}
	}
	return uptimeLine(now, time.Duration(secs*float64(time.Second)), loggedIn(f.utmp), load), nil
}

// uptimeLine is the line procps' uptime prints:
// " 08:32:11 up 93 days, 18:25,  1 user,  load average: 0.20, 0.12, 0.14".
func uptimeLine(now time.Time, up time.Duration, users int, load [3]float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, " %02d:%02d:%02d up ", now.Hour(), now.Minute(), now.Second())
	mins := int(up / time.Minute)
	if days := mins / (24 * 60); days > 0 {
		fmt.Fprintf(&b, "%d day%s, ", days, plural(days))
	}
	if hours := mins / 60 % 24; hours > 0 {
		fmt.Fprintf(&b, "%2d:%02d, ", hours, mins%60)
	} else {
		fmt.Fprintf(&b, "%d min, ", mins%60)
	}
	fmt.Fprintf(&b, "%2d user%s, ", users, plural(users))
	fmt.Fprintf(&b, " load average: %.2f, %.2f, %.2f", load[0], load[1], load[2])
	return b.String()
}

// plural is procps' choice: "0 user", "1 day", "2 users".
func plural(n int) string {
	if n > 1 {
		return "s"
	}
	return ""
}

// loggedIn counts the user sessions in utmp (glibc's struct utmp on
// Linux: 384-byte records, the short ut_type first, USER_PROCESS 7, the
// user name at 44), as uptime
// does; 0 when there is no utmp, as in most containers.
func loggedIn(path string) int {
	const recordSize, userProcess = 384, 7
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for off := 0; off+recordSize <= len(data); off += recordSize {
		if binary.NativeEndian.Uint16(data[off:]) == userProcess && data[off+44] != 0 {
			n++
		}
	}
	return n
}
