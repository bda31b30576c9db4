package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// Files the agent keeps in a guest's directory, next to the driver's.
const (
	recordFile      = "instance.json" // the record below
	configDriveFile = "disk.config"   // Nova's name for it
)

// record is what the agent remembers of a guest it built, so that after
// a restart it can run the guest again without asking anyone: the
// driver needs the whole spec to power a stopped guest on. It lives in
// the guest's directory, so it goes when the driver's Destroy removes
// that; with no InstancesDir it lives in memory only.
type record struct {
	V           int        `json:"v"`
	UUID        string     `json:"uuid"`
	Name        string     `json:"name,omitempty"`
	Flavor      rpc.Flavor `json:"flavor"`
	ImageID     string     `json:"image_id"`
	BaseFormat  string     `json:"base_format"`
	ConfigDrive bool       `json:"config_drive,omitempty"`
	// OldFlavor is the flavor before an unconfirmed resize, for its
	// revert.
	OldFlavor *rpc.Flavor `json:"old_flavor,omitempty"`
}

// instance is the driver's view of the guest r describes.
func (a *Agent) instance(r *record) hypervisor.Instance {
	inst := hypervisor.Instance{
		UUID:       r.UUID,
		Name:       r.Name,
		VCPUs:      r.Flavor.VCPUs,
		MemoryMB:   r.Flavor.RAM,
		RootGB:     r.Flavor.Disk,
		BaseImage:  a.cache.path(r.ImageID),
		BaseFormat: r.BaseFormat,
		Dir:        a.dir(r.UUID),
	}
	if r.ConfigDrive && inst.Dir != "" {
		inst.ConfigDrive = filepath.Join(inst.Dir, configDriveFile)
	}
	return inst
}

// dir is the guest's directory; "" without InstancesDir.
func (a *Agent) dir(uuid string) string {
	if a.o.InstancesDir == "" {
		return ""
	}
	return filepath.Join(a.o.InstancesDir, uuid)
}

// guest is the driver's view of the guest a request names: from the
// record when the agent has one, else from the request's spec (a record
// lost, or never written without InstancesDir).
func (a *Agent) guest(spec rpc.Instance) hypervisor.Instance {
	if r := a.record(spec.UUID); r != nil {
		return a.instance(r)
	}
	inst := hypervisor.Instance{UUID: spec.UUID, Name: spec.Name, Dir: a.dir(spec.UUID)}
	if f := spec.Flavor; f != nil {
		inst.VCPUs, inst.MemoryMB, inst.RootGB = f.VCPUs, f.RAM, f.Disk
	}
	if inst.Dir != "" {
		if cd := filepath.Join(inst.Dir, configDriveFile); fileExists(cd) {
			inst.ConfigDrive = cd
		}
	}
	return inst
}

func (a *Agent) record(uuid string) *record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.records[uuid]
}

// remember keeps r, on disk first when there is an InstancesDir.
func (a *Agent) remember(r *record) error {
	if dir := a.dir(r.UUID); dir != "" {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, recordFile), b); err != nil {
			return fmt.Errorf("record instance %s: %w", r.UUID, err)
		}
	}
	a.mu.Lock()
	a.records[r.UUID] = r
	a.mu.Unlock()
	return nil
}

// forget drops the record of uuid and its directory.
func (a *Agent) forget(uuid string) error {
	a.mu.Lock()
	delete(a.records, uuid)
	a.mu.Unlock()
	if dir := a.dir(uuid); dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove instance %s: %w", uuid, err)
		}
	}
	return nil
}

// loadRecords reads the records of InstancesDir.
func (a *Agent) loadRecords() error {
	if a.o.InstancesDir == "" {
		return nil
	}
	entries, err := os.ReadDir(a.o.InstancesDir)
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || !rpc.ValidID(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(a.o.InstancesDir, e.Name(), recordFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the driver's, or a build that died before its record
		}
		var r record
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err == nil && r.UUID != e.Name() {
			err = fmt.Errorf("record names %q", r.UUID)
		}
		if err != nil {
			a.log.Warn("unreadable instance record", "uuid", e.Name(), "err", err)
			continue
		}
		a.records[r.UUID] = &r
	}
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// locks serialises the operations on each guest, as the driver asks.
type locks struct {
	mu sync.Mutex
	m  map[string]*lock
}

type lock struct {
	ch   chan struct{} // holds a token while someone has the lock
	refs int
}

// lock waits for uuid's lock until ctx is done.
func (l *locks) lock(ctx context.Context, uuid string) (unlock func(), err error) {
	k := l.ref(uuid)
	select {
	case k.ch <- struct{}{}:
		return func() { <-k.ch; l.unref(uuid) }, nil
	case <-ctx.Done():
		l.unref(uuid)
		return nil, ctx.Err()
	}
}

// tryLock takes uuid's lock if it is free.
func (l *locks) tryLock(uuid string) (unlock func(), ok bool) {
	k := l.ref(uuid)
	select {
	case k.ch <- struct{}{}:
		return func() { <-k.ch; l.unref(uuid) }, true
	default:
		l.unref(uuid)
		return nil, false
	}
}

func (l *locks) ref(uuid string) *lock {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*lock{}
	}
	k := l.m[uuid]
	if k == nil {
		k = &lock{ch: make(chan struct{}, 1)}
		l.m[uuid] = k
	}
	k.refs++
	return k
}

func (l *locks) unref(uuid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k := l.m[uuid]; k != nil {
		if k.refs--; k.refs == 0 {
			delete(l.m, uuid)
		}
	}
}
