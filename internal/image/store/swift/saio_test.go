package swift

// The tests of this package need a real Swift. They run when either
//
//	NIMBUS_TEST_SWIFT_URL=http://127.0.0.1:8080/auth/v1.0   (a Swift you run;
//	    NIMBUS_TEST_SWIFT_USER / NIMBUS_TEST_SWIFT_KEY, default test:tester / testing)
//
// or, as root on Debian 12, to have the tests start and stop a Swift
// all-in-one themselves with /work/shared/reference/swift-saio.sh (which
// installs Debian's swift packages with apt on first use; about 30 s):
//
//	NIMBUS_TEST_SWIFT=start go test ./internal/image/store/swift/
//
// (NIMBUS_TEST_SWIFT_SAIO names another copy of the script.) That SAIO gets a
// private state directory and free ports for its proxy and memcached, so it
// clashes neither with a Swift or anything else on 8080/11211; its storage
// servers use the script's fixed ports 6210-6232, and the tests skip if those
// are taken (another SAIO runs: point NIMBUS_TEST_SWIFT_URL at it instead).
// Otherwise the tests skip, and CI, which sets neither, skips them.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const defaultSAIO = "/work/shared/reference/swift-saio.sh"

// swiftAuth is how the tests log in to Swift; skip says why they cannot.
var swiftAuth struct {
	url, user, key string
	skip           string
}

func TestMain(m *testing.M) {
	stop, err := setupSwift()
	if err != nil {
		fmt.Fprintln(os.Stderr, "swift tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

func setupSwift() (stop func(), err error) {
	stop = func() {}
	if u := os.Getenv("NIMBUS_TEST_SWIFT_URL"); u != "" {
		swiftAuth.url = u
		swiftAuth.user = envOr("NIMBUS_TEST_SWIFT_USER", "test:tester")
		swiftAuth.key = envOr("NIMBUS_TEST_SWIFT_KEY", "testing")
		return stop, nil
	}
	script := envOr("NIMBUS_TEST_SWIFT_SAIO", defaultSAIO)
	if os.Getenv("NIMBUS_TEST_SWIFT") != "start" {
		swiftAuth.skip = "no Swift: set NIMBUS_TEST_SWIFT_URL to a v1.0 auth URL, or NIMBUS_TEST_SWIFT=start to run " + script
		return stop, nil
	}
	if _, err := os.Stat(script); err != nil {
		swiftAuth.skip = "NIMBUS_TEST_SWIFT=start but no SAIO script: " + err.Error()
		return stop, nil
	}
	if os.Geteuid() != 0 {
		swiftAuth.skip = "NIMBUS_TEST_SWIFT=start needs root (apt, /etc/swift)"
		return stop, nil
	}
	for n := 1; n <= 3; n++ {
		for k := 0; k <= 2; k++ {
			if port := 6200 + 10*n + k; !portFree(port) {
				swiftAuth.skip = fmt.Sprintf("port %d is taken (another SAIO?); set NIMBUS_TEST_SWIFT_URL to use it", port)
				return stop, nil
			}
		}
	}
	dir, err := os.MkdirTemp("", "nimbus-swift-saio-")
	if err != nil {
		return stop, err
	}
	proxy, memcached := freePort(), freePort()
	env := append(os.Environ(),
		"SAIO_DIR="+filepath.Join(dir, "saio"),
		"PROXY_PORT="+strconv.Itoa(proxy),
		"MEMCACHED_PORT="+strconv.Itoa(memcached),
		"SAIO_AUTH=tempauth",
	)
	run := func(arg string) error {
		cmd := exec.Command(script, arg)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %w\n%s", script, arg, err, out)
		}
		return nil
	}
	stop = func() {
		if err := run("stop"); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.RemoveAll(dir)
	}
	start := time.Now()
	if err := run("start"); err != nil {
		stop()
		return func() {}, err
	}
	fmt.Fprintf(os.Stderr, "swift tests: SAIO up on 127.0.0.1:%d in %s\n", proxy, time.Since(start).Round(time.Second))
	swiftAuth.url = fmt.Sprintf("http://127.0.0.1:%d/auth/v1.0", proxy)
	swiftAuth.user, swiftAuth.key = "test:tester", "testing"
	return stop, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freePort is a port nothing listens on now; the SAIO binds it a moment
// later.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// needSwift skips t unless a Swift is there and returns its v1.0 auth.
func needSwift(t *testing.T) func(context.Context) (string, string, error) {
	t.Helper()
	if swiftAuth.skip != "" {
		t.Skip(swiftAuth.skip)
	}
	return TempAuth(nil, swiftAuth.url, swiftAuth.user, swiftAuth.key)
}
