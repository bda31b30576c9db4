package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// monitor is one QMP connection to a guest's QEMU. QEMU serves a QMP
// socket to one client at a time, so the driver keeps a single
// connection per running guest and reads its events for as long as it
// is open.
type monitor struct {
	m      *qmp.SocketMonitor
	events <-chan qmp.Event // closed when the connection ends
}

// dialMonitor connects to the QMP socket at path and negotiates
// capabilities. A socket whose QEMU is busy with another client answers
// with nothing: ctx bounds the wait.
func dialMonitor(ctx context.Context, path string) (*monitor, error) {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	m, err := qmp.NewSocketMonitor("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Connect() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		m.Disconnect()
		<-done
		return nil, fmt.Errorf("connect to %s: no QMP greeting: %w", path, ctx.Err())
	}
	if err != nil {
		m.Disconnect()
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	// The library delivers events on an unbuffered channel once someone
	// listens, and stalls command replies behind them: the watcher must
	// drain it until it closes.
	events, err := m.Events(context.Background())
	if err != nil {
		m.Disconnect()
		return nil, fmt.Errorf("qmp events on %s: %w", path, err)
	}
	return &monitor{m: m, events: events}, nil
}

var errMonitorClosed = errors.New("qemu monitor closed")

// run executes a QMP command and decodes its "return" into out (when not
// nil). A QEMU that does not answer is left to its fate when ctx ends.
func (m *monitor) run(ctx context.Context, out any, cmd string, args any) error {
	return m.runWithFile(ctx, out, cmd, args, nil)
}

// runWithFile is run passing f's descriptor along (SCM_RIGHTS), as getfd
// wants.
func (m *monitor) runWithFile(ctx context.Context, out any, cmd string, args any, f *os.File) error {
	req, err := json.Marshal(qmp.Command{Execute: cmd, Args: args})
	if err != nil {
		return err
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		if f != nil {
			r.b, r.err = m.m.RunWithFile(req, f)
		} else {
			r.b, r.err = m.m.Run(req)
		}
		ch <- r
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return fmt.Errorf("qmp %s: %w", cmd, ctx.Err())
	}
	if r.err != nil {
		if r.b == nil && isJSONEnd(r.err) {
			r.err = errMonitorClosed
		}
		return fmt.Errorf("qmp %s: %w", cmd, r.err)
	}
	if out == nil {
		return nil
	}
	var resp struct {
		Return json.RawMessage `json:"return"`
	}
	if err := json.Unmarshal(r.b, &resp); err != nil {
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	if err := json.Unmarshal(resp.Return, out); err != nil {
		return fmt.Errorf("qmp %s: decode %s: %w", cmd, resp.Return, err)
	}
	return nil
}

// isJSONEnd is the library's way of saying the connection closed before
// an answer (it decodes an empty reply).
func isJSONEnd(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

func (m *monitor) close() { m.m.Disconnect() }
