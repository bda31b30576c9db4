// Command nimbus-load puts a steady load on an OpenStack API (Nimbus's or the
// real one) and reports throughput and latency per concurrency level, so the
// two can be compared with the same client on the same machine.
//
//	nimbus-load identity --auth-url http://127.0.0.1:5000 --username admin \
//	    --password secret --project admin --concurrency 1,8,32 --duration 10s
//
// It uses only the standard library and keeps its client cheap (keep-alive
// connections, one idle connection per worker) so that the server is what
// is measured.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: nimbus-load COMMAND [flags]

commands:
  identity   token validate, token issue (token method), token issue (password)
  image      upload and download one image of --size bytes, MB/s each way
  swift      small-object PUT/GET/HEAD/DELETE ops/s and one large object's MB/s
  compute    POST /servers latency, time to ACTIVE, servers/s at scale

Run "nimbus-load COMMAND -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "identity":
		return identityCmd(ctx, args[1:], stdout, stderr)
	case "image":
		return imageCmd(ctx, args[1:], stdout, stderr)
	case "swift":
		return swiftCmd(ctx, args[1:], stdout, stderr)
	case "compute":
		return computeCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "nimbus-load: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
