package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// monitor is one QMP connection to a guest's QEMU. QEMU serves a QMP
// socket to one client at a time, so the driver keeps a single
// connection per running guest and reads its events for as long as it
// is open.
//
// It implements go-qemu's qmp.Monitor (so the library's typed commands,
// qmp/raw, run on it) but not with the library's SocketMonitor, whose
// reader hands out bufio.Scanner's buffer, overwritten by the next line
// while the caller still decodes it (go-qemu issue #226: the race
// detector caught it here, an event corrupting a command's answer), and
// which takes an event arriving before the capabilities answer for that
// answer, leaving every later command one answer behind (#210). Here
// each command carries an id that its answer echoes, every message is
// decoded into its own memory, and every wait has a context.
type monitor struct {
	conn    net.Conn
	version qmp.Version
	caps    []string

	events chan qmp.Event // closed when the connection ends
	writeM sync.Mutex     // one command on the wire at a time

	mu      sync.Mutex
	nextID  int
	pending map[string]chan reply // by command id
	closed  bool
	reading bool          // the reader runs (Connect got the greeting)
	done    chan struct{} // closed when the reader ends
}

var _ qmp.Monitor = (*monitor)(nil)

// reply is a command's answer: its "return", or its error.
type reply struct {
	ret json.RawMessage
	err error
}

// qmpError is QEMU's answer to a command that failed.
type qmpError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *qmpError) Error() string { return e.Desc }

var errMonitorClosed = errors.New("qemu monitor closed")

// dialMonitor connects to the QMP socket at path and negotiates
// capabilities. A socket whose QEMU is busy with another client answers
// with nothing: ctx bounds the wait.
func dialMonitor(ctx context.Context, path string) (*monitor, error) {
	conn, err := dialUnix(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	m := &monitor{
		conn:    conn,
		events:  make(chan qmp.Event, 64),
		pending: map[string]chan reply{},
		done:    make(chan struct{}),
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	err = m.Connect()
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		m.Disconnect()
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	conn.SetDeadline(time.Time{})
	return m, nil
}

// Connect reads QEMU's greeting and leaves negotiation mode; then a
// reader goroutine sorts what QEMU sends into answers and events.
func (m *monitor) Connect() error {
	dec := json.NewDecoder(m.conn)
	var greeting struct {
		QMP struct {
			Version      qmp.Version `json:"version"`
			Capabilities []string    `json:"capabilities"`
		} `json:"QMP"`
	}
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("qmp greeting: %w", err)
	}
	m.version, m.caps = greeting.QMP.Version, greeting.QMP.Capabilities
	m.mu.Lock()
	m.reading = true
	m.mu.Unlock()
	go m.read(dec)
	_, err := m.command(context.Background(), "qmp_capabilities", nil, nil)
	return err
}

// read delivers answers to their commands and events to the events
// channel, until the connection ends.
func (m *monitor) read(dec *json.Decoder) {
	defer func() {
		m.mu.Lock()
		m.closed = true
		for id, ch := range m.pending {
			ch <- reply{err: errMonitorClosed}
			delete(m.pending, id)
		}
		m.mu.Unlock()
		close(m.events)
		close(m.done)
	}()
	for {
		var msg struct {
			ID     string          `json:"id"`
			Return json.RawMessage `json:"return"`
			Error  *qmpError       `json:"error"`
			qmp.Event
		}
		if err := dec.Decode(&msg); err != nil {
			return
		}
		if msg.Event.Event != "" {
			// The watcher drains events as they come; a full buffer
			// only slows the reader down.
			m.events <- msg.Event
			continue
		}
		m.mu.Lock()
		ch := m.pending[msg.ID]
		delete(m.pending, msg.ID)
		m.mu.Unlock()
		if ch == nil {
			continue // its caller gave up waiting
		}
		if msg.Error != nil {
			ch <- reply{err: msg.Error}
		} else {
			ch <- reply{ret: msg.Return}
		}
	}
}

// command sends a command (with f's descriptor, when not nil, for getfd)
// and waits for its answer.
func (m *monitor) command(ctx context.Context, name string, args any, f *os.File) (json.RawMessage, error) {
	ch := make(chan reply, 1)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errMonitorClosed
	}
	m.nextID++
	id := strconv.Itoa(m.nextID)
	m.pending[id] = ch
	m.mu.Unlock()
	forget := func() {
		m.mu.Lock()
		delete(m.pending, id)
		m.mu.Unlock()
	}
	req, err := json.Marshal(struct {
		Execute string `json:"execute"`
		Args    any    `json:"arguments,omitempty"`
		ID      string `json:"id"`
	}{name, args, id})
	if err != nil {
		forget()
		return nil, err
	}
	if err := m.write(ctx, req, f); err != nil {
		forget()
		return nil, err
	}
	select {
	case r := <-ch:
		return r.ret, r.err
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

func (m *monitor) write(ctx context.Context, req []byte, f *os.File) error {
	m.writeM.Lock()
	defer m.writeM.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		m.conn.SetWriteDeadline(dl)
		defer m.conn.SetWriteDeadline(time.Time{})
	}
	req = append(req, '\n')
	if f == nil {
		_, err := m.conn.Write(req)
		return err
	}
	uc, ok := m.conn.(*net.UnixConn)
	if !ok {
		return errors.New("passing a file needs a unix socket")
	}
	_, _, err := uc.WriteMsgUnix(req, syscall.UnixRights(int(f.Fd())), nil)
	return err
}

// Run is qmp.Monitor's: cmd is a whole command as JSON; the answer is
// {"return": ...} as QEMU sent it.
func (m *monitor) Run(cmd []byte) ([]byte, error) {
	var c qmp.Command
	if err := json.Unmarshal(cmd, &c); err != nil {
		return nil, err
	}
	ret, err := m.command(context.Background(), c.Execute, c.Args, nil)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]json.RawMessage{"return": ret})
}

// Events is qmp.Monitor's: the one event stream of the connection.
func (m *monitor) Events(context.Context) (<-chan qmp.Event, error) { return m.events, nil }

// Disconnect is qmp.Monitor's: it closes the connection; the events
// channel closes once the reader is done.
func (m *monitor) Disconnect() error {
	err := m.conn.Close()
	m.mu.Lock()
	reading := m.reading
	m.mu.Unlock()
	if reading {
		<-m.done
	}
	return err
}

// run executes a QMP command and decodes its "return" into out (when not
// nil).
func (m *monitor) run(ctx context.Context, out any, cmd string, args any) error {
	return m.runWithFile(ctx, out, cmd, args, nil)
}

// runWithFile is run passing f's descriptor along (SCM_RIGHTS), as getfd
// wants.
func (m *monitor) runWithFile(ctx context.Context, out any, cmd string, args any, f *os.File) error {
	ret, err := m.command(ctx, cmd, args, f)
	if err != nil {
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(ret, out); err != nil {
		return fmt.Errorf("qmp %s: decode %s: %w", cmd, ret, err)
	}
	return nil
}

func (m *monitor) close() { m.Disconnect() }

// maxSocketPath is the longest path a unix socket address holds
// (sun_path is 108 bytes with its NUL).
const maxSocketPath = 107

// viaShortPath calls dial with a name of the unix socket at path short
// enough for a socket address: path itself, or when too long, the same
// file reached through an open descriptor of its directory
// (/proc/self/fd/N/name), which dial must use before it returns.
func viaShortPath(path string, dial func(string) error) error {
	if len(path) <= maxSocketPath {
		return dial(path)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dial(fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path)))
}

// dialUnix connects to the unix socket at path, however long.
func dialUnix(ctx context.Context, path string) (net.Conn, error) {
	var c net.Conn
	err := viaShortPath(path, func(short string) (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "unix", short)
		return err
	})
	return c, err
}
