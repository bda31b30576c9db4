package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fakeQEMU serves one QMP client on a unix socket with a script: it
// greets, then for each command it reads calls answer, which writes
// whatever it likes (events, answers) with the command's id, and hangs up
// when answer says so.
func fakeQEMU(t *testing.T, answer func(w *bufio.Writer, name, id string) (hangUp bool)) string {
	t.Helper()
	path := filepath.Join(testDirs(t), "qmp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		w := bufio.NewWriter(c)
		fmt.Fprintln(w, `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}`)
		w.Flush()
		dec := json.NewDecoder(c)
		for {
			var cmd struct {
				Execute string `json:"execute"`
				ID      string `json:"id"`
			}
			if dec.Decode(&cmd) != nil {
				return
			}
			hangUp := answer(w, cmd.Execute, cmd.ID)
			w.Flush()
			if hangUp {
				return
			}
		}
	}()
	return path
}

func event(w *bufio.Writer, name string) {
	fmt.Fprintf(w, `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": %q, "data": {"n": %q}}`+"\n", name, name)
}

// TestMonitorOrder: events before the capabilities answer and between a
// command and its answer go to the event stream, never taken for
// answers; answers find their commands by id.
func TestMonitorOrder(t *testing.T) {
	path := fakeQEMU(t, func(w *bufio.Writer, name, id string) bool {
		switch name {
		case "qmp_capabilities":
			event(w, "BEFORE_CAPS")
			fmt.Fprintf(w, `{"return": {}, "id": %q}`+"\n", id)
		case "query-status":
			event(w, "STOP")
			fmt.Fprintf(w, `{"return": {"status": "paused", "running": false}, "id": %q}`+"\n", id)
			event(w, "AFTER")
		case "bad":
			fmt.Fprintf(w, `{"error": {"class": "CommandNotFound", "desc": "The command bad has not been found"}, "id": %q}`+"\n", id)
		}
		return false
	})
	m, err := dialMonitor(testCtx(t), path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	if m.version.String() != "7.2.0" {
		t.Errorf("version %s", m.version)
	}
	// Drained as the driver's watcher does, or the reader would wait.
	events := make(chan []string)
	go func() {
		var names []string
		for ev := range m.events {
			if ev.Data["n"] != ev.Event || ev.Timestamp.Microseconds != 2 {
				names = append(names, fmt.Sprintf("bad %+v", ev))
			}
			names = append(names, ev.Event)
		}
		events <- names
	}()
	for range 50 {
		var st qmpStatus
		if err := m.run(testCtx(t), &st, "query-status", nil); err != nil || st.Status != "paused" {
			t.Fatalf("query-status = %+v, %v", st, err)
		}
	}
	var qe *qmpError
	if err := m.run(testCtx(t), nil, "bad", nil); !errors.As(err, &qe) || qe.Class != "CommandNotFound" {
		t.Errorf("bad command: %v", err)
	}
	m.close()
	got := <-events
	want := []string{"BEFORE_CAPS"}
	for range 50 {
		want = append(want, "STOP", "AFTER")
	}
	if !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

// TestMonitorGivesUp: a command QEMU does not answer ends with its
// context; its late answer does not go to the next command.
func TestMonitorGivesUp(t *testing.T) {
	late := make(chan string, 1)
	path := fakeQEMU(t, func(w *bufio.Writer, name, id string) bool {
		switch name {
		case "qmp_capabilities", "query-status":
			if prev := <-late; prev != "" {
				fmt.Fprintf(w, `{"return": {"status": "stale"}, "id": %q}`+"\n", prev)
			}
			fmt.Fprintf(w, `{"return": {"status": "running"}, "id": %q}`+"\n", id)
		case "slow":
			late <- id // answered later, before the next answer
		}
		return false
	})
	late <- ""
	m, err := dialMonitor(testCtx(t), path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := m.run(ctx, nil, "slow", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unanswered command: %v", err)
	}
	var st qmpStatus
	if err := m.run(testCtx(t), &st, "query-status", nil); err != nil || st.Status != "running" {
		t.Errorf("query-status after a late answer = %+v, %v", st, err)
	}
}

// TestMonitorClosed: a command pending when QEMU goes away fails, the
// event stream closes, and later commands fail at once.
func TestMonitorClosed(t *testing.T) {
	path := fakeQEMU(t, func(w *bufio.Writer, name, id string) bool {
		if name == "qmp_capabilities" {
			fmt.Fprintf(w, `{"return": {}, "id": %q}`+"\n", id)
			return false
		}
		event(w, "SHUTDOWN")
		return true // as QEMU quitting
	})
	m, err := dialMonitor(testCtx(t), path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	if err := m.run(testCtx(t), nil, "quit", nil); !errors.Is(err, errMonitorClosed) {
		t.Errorf("command cut off = %v, want errMonitorClosed", err)
	}
	var got []string
	for ev := range m.events {
		got = append(got, ev.Event)
	}
	if len(got) != 1 || got[0] != "SHUTDOWN" {
		t.Errorf("events = %v, want [SHUTDOWN] then closed", got)
	}
	if err := m.run(testCtx(t), nil, "query-status", nil); !errors.Is(err, errMonitorClosed) {
		t.Errorf("command after the end = %v", err)
	}
}

// TestMonitorNoGreeting: a socket that never greets (QEMU busy with
// another client) fails the dial when its context ends.
func TestMonitorNoGreeting(t *testing.T) {
	path := filepath.Join(testDirs(t), "qmp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			time.Sleep(5 * time.Second)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := dialMonitor(ctx, path); err == nil {
		t.Fatal("dial without a greeting succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("dial gave up after %v", took)
	}
}
