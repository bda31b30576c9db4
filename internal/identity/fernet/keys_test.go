package fernet

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// repoState lists the key file numbers in dir and checks their modes.
func repoState(t *testing.T, dir string) []int {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != dirMode {
		t.Errorf("%s mode %v, want %v", dir, got, os.FileMode(dirMode))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, e := range ents {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			t.Errorf("stray file %s in key repository", e.Name())
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != keyMode {
			t.Errorf("key %s mode %v, want %v", e.Name(), got, os.FileMode(keyMode))
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func readKey(t *testing.T, dir string, id int) Key {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(id)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func setup(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fernet-keys")
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSetup(t *testing.T) {
	dir := setup(t)
	if diff := cmp.Diff([]int{0, 1}, repoState(t, dir)); diff != "" {
		t.Fatalf("keys after Setup (-want +got):\n%s", diff)
	}
	k0, k1 := readKey(t, dir, 0), readKey(t, dir, 1)
	if k0 == k1 {
		t.Fatal("staged and primary keys are equal")
	}
	// Setup again changes nothing.
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	if readKey(t, dir, 0) != k0 || readKey(t, dir, 1) != k1 {
		t.Fatal("second Setup replaced keys")
	}
	// A lost staged key is replaced, the primary kept.
	if err := os.Remove(filepath.Join(dir, "0")); err != nil {
		t.Fatal(err)
	}
	if err := Setup(dir); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 1}, repoState(t, dir)); diff != "" {
		t.Fatalf("keys after Setup (-want +got):\n%s", diff)
	}
	if readKey(t, dir, 1) != k1 {
		t.Fatal("Setup replaced the primary key")
	}
}

func TestLoadOrder(t *testing.T) {
	dir := setup(t)
	for range 3 {
		if err := Rotate(dir, 10); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]int{0, 1, 2, 3, 4}, repoState(t, dir)); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
	// Stray files, an empty key (an interrupted copy) and non-canonical
	// names are ignored.
	for name, content := range map[string]string{"README": "x", "0.tmp": "x", "07": "x", "-1": "x", "9": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []Key
	for _, id := range []int{4, 0, 3, 2, 1} {
		want = append(want, readKey(t, dir, id))
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("Load order (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil {
		t.Error("Load of an empty directory succeeded")
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "1"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load with a corrupt key succeeded")
	}
}

func TestRotate(t *testing.T) {
	dir := setup(t)
	const maxActive = 3
	staged := readKey(t, dir, 0)
	primary := readKey(t, dir, 1)
	for n := 2; n <= 6; n++ {
		if err := Rotate(dir, maxActive); err != nil {
			t.Fatal(err)
		}
		want := []int{0, n - 1, n}
		if n == 2 {
			want = []int{0, 1, 2}
		}
		if diff := cmp.Diff(want, repoState(t, dir)); diff != "" {
			t.Fatalf("after rotation to %d (-want +got):\n%s", n, diff)
		}
		if got := readKey(t, dir, n); got != staged {
			t.Fatalf("rotation to %d did not promote the staged key", n)
		}
		if got := readKey(t, dir, n-1); got != primary {
			t.Fatalf("rotation to %d lost the old primary", n)
		}
		primary, staged = staged, readKey(t, dir, 0)
		if staged == primary {
			t.Fatal("new staged key equals the primary")
		}
	}
}

func TestRotateMinimal(t *testing.T) {
	dir := setup(t)
	for range 3 {
		if err := Rotate(dir, 2); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]int{0, 4}, repoState(t, dir)); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
	if err := Rotate(dir, 1); err == nil {
		t.Error("Rotate with max 1 succeeded")
	}
	if err := Rotate(t.TempDir(), 3); err == nil {
		t.Error("Rotate of an empty directory succeeded")
	}
}

func TestRotateDecrypt(t *testing.T) {
	dir := setup(t)
	keys, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	old, err := Encrypt(keys[0], []byte("issued by key 1"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Key 1 becomes a secondary: still decrypts.
	if err := Rotate(dir, 3); err != nil {
		t.Fatal(err)
	}
	keys, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decrypt(keys, old); err != nil {
		t.Fatalf("token from a secondary key: %v", err)
	}
	// And once rotated out, it no longer does.
	if err := Rotate(dir, 3); err != nil {
		t.Fatal(err)
	}
	keys, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decrypt(keys, old); err == nil {
		t.Fatal("token from a rotated-out key accepted")
	}
}

// A node that has received a rotation's new staged key decrypts tokens
// from a node that already promoted it.
func TestStagedKeyDecrypts(t *testing.T) {
	dir := setup(t)
	staged := readKey(t, dir, 0)
	tok, err := Encrypt(staged, []byte("from a node ahead of us"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decrypt(keys, tok); err != nil {
		t.Fatal(err)
	}
}

func TestKeyringReload(t *testing.T) {
	dir := setup(t)
	kr, err := NewKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kr.Primary(), readKey(t, dir, 1); got != want {
		t.Fatal("Primary is not key 1")
	}
	if err := Rotate(dir, 3); err != nil {
		t.Fatal(err)
	}
	if err := kr.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := kr.Primary(), readKey(t, dir, 2); got != want {
		t.Fatal("Primary after rotation is not key 2")
	}
	if n := len(kr.All()); n != 3 {
		t.Fatalf("All has %d keys, want 3", n)
	}
	// A broken directory leaves the keys in use.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := kr.Reload(); err == nil {
		t.Fatal("Reload of a removed directory succeeded")
	}
	if n := len(kr.All()); n != 3 {
		t.Fatalf("All has %d keys after failed reload, want 3", n)
	}
}

// Once the directory has settled, Reload does not read the key files.
func TestKeyringReloadCached(t *testing.T) {
	dir := setup(t)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	kr, err := NewKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Overwriting a key in place (not the way keys change) leaves the
	// directory mtime alone, so the cached keys stay.
	before := kr.Primary()
	if err := os.WriteFile(filepath.Join(dir, "1"), []byte(mustKey(t).String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	if err := kr.Reload(); err != nil {
		t.Fatal(err)
	}
	if kr.Primary() != before {
		t.Fatal("Reload reread an unchanged directory")
	}
}
