package file_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
	"github.com/nimbus-cloud/nimbus/internal/image/store/file"
	"github.com/nimbus-cloud/nimbus/internal/image/store/storetest"
)

// listed shows the suite every file in the store's directory.
type listed struct{ *file.Store }

func (l listed) List(t *testing.T) []string { return ls(t, l.Dir()) }

func ls(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func newStore(t *testing.T, dir string) *file.Store {
	t.Helper()
	s, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return listed{newStore(t, t.TempDir())} })
}

func TestLocation(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	s := newStore(t, "images") // relative: locations are absolute anyway
	id := storetest.NewID()
	obj, err := s.Put(t.Context(), id, bytes.NewReader([]byte("hello")), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "file://" + filepath.Join(base, "images", id)
	if obj.Location != want {
		t.Errorf("Location = %q, want %q", obj.Location, want)
	}
	if b, err := os.ReadFile(filepath.Join(base, "images", id)); err != nil || string(b) != "hello" {
		t.Errorf("file holds %q, %v", b, err)
	}
	if s.Name() != "file" {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestTraversalRefused(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "images")
	s := newStore(t, dir)
	id := storetest.NewID()
	if _, err := s.Put(t.Context(), id, bytes.NewReader([]byte("image")), 0); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(base, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	outsideID := storetest.NewID()
	if err := os.WriteFile(filepath.Join(base, outsideID), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".tmp-123")
	if err := os.WriteFile(tmp, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A symlink planted under an image's name is not followed.
	linkID := storetest.NewID()
	if err := os.Symlink(secret, filepath.Join(dir, linkID)); err != nil {
		t.Fatal(err)
	}

	for _, loc := range []string{
		"file://" + secret,
		"file://" + dir + "/../secret",
		"file://" + dir + "/../" + outsideID,
		"file://" + dir + "/" + id + "/../../secret",
		"file://" + dir + "//" + id,
		"file://" + dir + "/./" + id,
		"file://" + dir + "/" + id + "/",
		"file://" + tmp,
		"file://" + dir,
		"file://" + dir + "/",
		"file://images/" + id,
		"file:" + dir + "/" + id,
		dir + "/" + id,
		"swift://" + dir + "/" + id,
		"file://" + base + "/images2/" + id,
	} {
		rc, err := s.Open(t.Context(), loc, 0, -1)
		if err == nil {
			rc.Close()
		}
		if !fault.Is(err, fault.BadRequest) {
			t.Errorf("Open(%q) err = %v, want BadRequest", loc, err)
		}
		if err := s.Delete(t.Context(), loc); !fault.Is(err, fault.BadRequest) {
			t.Errorf("Delete(%q) err = %v, want BadRequest", loc, err)
		}
	}
	linkLoc := "file://" + filepath.Join(dir, linkID)
	if _, err := s.Open(t.Context(), linkLoc, 0, -1); !fault.Is(err, fault.NotFound) {
		t.Errorf("Open(symlink) err = %v, want NotFound", err)
	}
	for _, p := range []string{secret, filepath.Join(base, outsideID), tmp, filepath.Join(dir, id)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v; want it untouched", p, err)
		}
	}
}

func TestLeftoversRemovedAtNew(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	id := storetest.NewID()
	if _, err := s.Put(t.Context(), id, bytes.NewReader([]byte("kept")), 0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".tmp-1", ".tmp-abcdef"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("crash"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	newStore(t, dir)
	if diff := cmp.Diff([]string{id}, ls(t, dir)); diff != "" {
		t.Errorf("after New (-want +got):\n%s", diff)
	}
}

// TestMediaFull fills a 1 MiB tmpfs.
func TestMediaFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	s := newStore(t, dir)
	free, err := s.Free()
	if err != nil || free <= 0 || free > 1<<20 {
		t.Errorf("Free() = %d, %v; want (0, 1 MiB]", free, err)
	}
	g := storetest.NewGen(1, 4<<20)
	_, err = s.Put(t.Context(), storetest.NewID(), g, 0)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.TooLarge || fe.Msg != store.MsgFull || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put on a full disk: err = %v, want TooLarge %q wrapping ENOSPC", err, store.MsgFull)
	}
	if names := ls(t, dir); len(names) != 0 {
		t.Errorf("after a failed Put the store holds %q", names)
	}
	// The space is back: a small image fits.
	if _, err := s.Put(t.Context(), storetest.NewID(), storetest.NewGen(2, 100<<10), 0); err != nil {
		t.Errorf("Put after ENOSPC: %v", err)
	}
}

// TestSendfileFriendly checks that what Open returns lets io.Copy reach
// the kernel's sendfile: the file itself, or a reader handing io.Copy an
// *io.LimitedReader of it; and that the bytes sent over TCP are right.
func TestSendfileFriendly(t *testing.T) {
	s := newStore(t, t.TempDir())
	data, _ := io.ReadAll(storetest.NewGen(3, 3<<20+5))
	obj, err := s.Put(t.Context(), storetest.NewID(), bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := s.Open(t.Context(), obj.Location, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Close()
	if _, ok := whole.(*os.File); !ok {
		t.Errorf("Open(to the end) is a %T, want *os.File", whole)
	}
	part, err := s.Open(t.Context(), obj.Location, 7, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	if _, ok := part.(io.WriterTo); !ok {
		t.Errorf("Open(range) is a %T, want an io.WriterTo", part)
	}

	for _, c := range []struct {
		r    io.Reader
		want []byte
	}{{whole, data}, {part, data[7 : 7+1<<20]}} {
		if got := sendTCP(t, c.r); !slices.Equal(got, c.want) {
			t.Errorf("sent %d bytes over TCP, want %d", len(got), len(c.want))
		}
	}
}

func sendTCP(t *testing.T, r io.Reader) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(c, r); err != nil {
		t.Fatal(err)
	}
	c.Close()
	return <-got
}
