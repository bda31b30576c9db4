package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

const (
	// consoleMax is how much of a console log the agent reads, Nova's
	// MAX_CONSOLE_BYTES.
	consoleMax = 100 << 10
	// snapshotDir, under ImageCacheDir, holds snapshots on their way to
	// the image service.
	snapshotDir = ".snapshots"
)

// handle answers one request from the bus. Every answer is a Reply, a
// failure included; only a reply that cannot be encoded is a bus error.
func (a *Agent) handle(ctx context.Context, body []byte) ([]byte, error) {
	rep := a.serve(ctx, body)
	rep.V = rpc.Version
	return json.Marshal(rep)
}

func (a *Agent) serve(ctx context.Context, body []byte) rpc.Reply {
	var req rpc.Request
	if err := json.Unmarshal(body, &req); err != nil {
		return fail(hypervisor.NoState, rpc.Errorf(rpc.CodeBadRequest, false, "malformed request: %v", err))
	}
	if e := req.Check(); e != nil {
		return fail(hypervisor.NoState, e)
	}
	if req.Op == rpc.HostUptime {
		// About the host, no guest's lock to wait for, nothing to report.
		return a.hostUptime()
	}
	// A stopping agent cuts its operations short rather than waiting for
	// the callers' deadlines.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(a.life, cancel)()

	log := a.log.With("op", req.Op, "uuid", req.Instance.UUID)
	if req.RequestID != "" {
		log = log.With("request_id", req.RequestID)
	}
	start := time.Now()
	unlock, err := a.locks.lock(lockContext(ctx), req.Instance.UUID)
	if err != nil {
		// Nothing happened, so there is no update; the guest's state is
		// not known without its lock.
		log.Warn("gave up waiting for the guest's lock", "err", err)
		return fail(hypervisor.NoState, rpc.Errorf(rpc.CodeBusy, true,
			"Instance %s is busy with another operation and the request gave up waiting.", req.Instance.UUID))
	}
	rep := a.do(ctx, &req)
	unlock()

	took := time.Since(start).Round(time.Millisecond)
	switch {
	case rep.OK:
		log.Info("done", "power_state", rep.PowerState, "took", took)
	case rep.Error.Code == rpc.CodeNotFound:
		log.Info("no such guest", "took", took)
	default:
		log.Warn("failed", "code", rep.Error.Code, "err", rep.Error.Message, "power_state", rep.PowerState, "took", took)
	}
	if req.Op != rpc.GetInfo && req.Op != rpc.ConsoleOutput && req.Op != rpc.GetConsole {
		a.report(rpc.Update{
			UUID: req.Instance.UUID, PowerState: rep.PowerState, Event: rpc.EventTask,
			Task: req.Op, RequestID: req.RequestID, OK: rep.OK, Fault: rep.Error,
		})
	}
	return rep
}

// lockContext ends a little before ctx, so that a request giving up on a
// busy guest has its answer back before its caller stops listening.
func lockContext(ctx context.Context) context.Context {
	d, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	margin := min(time.Until(d)/10, time.Second)
	lctx, cancel := context.WithDeadline(ctx, d.Add(-margin))
	context.AfterFunc(ctx, cancel)
	return lctx
}

func fail(state hypervisor.PowerState, e *rpc.Error) rpc.Reply {
	return rpc.Reply{PowerState: state, Error: e}
}

// do runs req; the guest's lock is held.
func (a *Agent) do(ctx context.Context, req *rpc.Request) rpc.Reply {
	d := a.o.Driver
	switch req.Op {
	case rpc.BuildAndRun:
		return a.build(ctx, req)
	case rpc.Resize:
		return a.resize(ctx, req)
	case rpc.ConfirmResize:
		return a.confirmResize(ctx, req)
	case rpc.RevertResize:
		return a.revertResize(ctx, req)
	case rpc.Rescue:
		return a.rescue(ctx, req)
	case rpc.Unrescue:
		return a.unrescue(ctx, req)
	case rpc.GetConsole:
		return a.getConsole(ctx, req)
	}
	inst := a.guest(req.Instance)
	switch req.Op {
	case rpc.PowerOff:
		return a.act(ctx, req, inst, func() error {
			return d.PowerOff(ctx, inst, time.Duration(req.Timeout)*time.Second)
		})
	case rpc.PowerOn:
		return a.act(ctx, req, inst, func() error { return d.PowerOn(ctx, inst) })
	case rpc.Reboot:
		return a.act(ctx, req, inst, func() error { return d.Reboot(ctx, inst, req.Hard) })
	case rpc.Pause:
		return a.act(ctx, req, inst, func() error { return d.Pause(ctx, inst) })
	case rpc.Unpause:
		return a.act(ctx, req, inst, func() error { return d.Unpause(ctx, inst) })
	case rpc.Suspend:
		return a.act(ctx, req, inst, func() error { return d.Suspend(ctx, inst) })
	case rpc.Resume:
		return a.act(ctx, req, inst, func() error { return d.Resume(ctx, inst) })
	case rpc.Destroy:
		return a.destroy(ctx, inst)
	case rpc.GetInfo:
		info, err := d.Info(ctx, inst)
		if err != nil {
			return fail(hypervisor.NoState, a.opError(ctx, req, err))
		}
		return rpc.Reply{OK: true, PowerState: info.State, Info: &rpc.Info{
			PowerState: info.State, VCPUs: info.VCPUs, MemoryMB: info.MemoryMB, CPUTimeNS: info.CPUTime.Nanoseconds(),
		}}
	case rpc.ConsoleOutput:
		out, err := d.ConsoleOutput(ctx, inst, consoleMax)
		if err != nil {
			return fail(a.state(ctx, inst), a.opError(ctx, req, err))
		}
		s := tail(string(out), req.Length)
		return rpc.Reply{OK: true, PowerState: a.state(ctx, inst), Output: &s}
	case rpc.Snapshot:
		return a.act(ctx, req, inst, func() error { return a.snapshot(ctx, req.Snapshot, inst) })
	}
	return fail(hypervisor.NoState, rpc.Errorf(rpc.CodeBadRequest, false, "unknown operation %q", req.Op))
}

// act runs one driver operation and answers the guest's state after it.
func (a *Agent) act(ctx context.Context, req *rpc.Request, inst hypervisor.Instance, op func() error) rpc.Reply {
	err := op()
	state := a.state(ctx, inst)
	if err != nil {
		return fail(state, a.opError(ctx, req, err))
	}
	return rpc.Reply{OK: true, PowerState: state}
}

// opError turns a driver's error into the reply's.
func (a *Agent) opError(ctx context.Context, req *rpc.Request, err error) *rpc.Error {
	switch {
	case errors.Is(err, hypervisor.ErrNotFound):
		return rpc.Errorf(rpc.CodeNotFound, false, "Instance %s could not be found.", req.Instance.UUID)
	case errors.Is(err, errors.ErrUnsupported):
		return rpc.Errorf(rpc.CodeUnsupported, false, "%v", err)
	case ctx.Err() != nil:
		return rpc.Errorf(rpc.CodeUnavailable, true, "%s of instance %s was cut short: %v", req.Op, req.Instance.UUID, context.Cause(ctx))
	}
	return rpc.Errorf(rpc.CodeFailed, false, "%v", err)
}

// tail is Nova's tail of a console log: the last length pieces of log
// split at newlines; all of it for nil or a negative length, nothing for 0.
func tail(log string, length *int) string {
	if length == nil || *length < 0 {
		return log
	}
	if *length == 0 {
		return ""
	}
	lines := strings.Split(log, "\n")
	if len(lines) > *length {
		lines = lines[len(lines)-*length:]
	}
	return strings.Join(lines, "\n")
}

// build makes and starts a guest: the image in the cache, the guest's
// directory with its config drive and the agent's record, then the
// driver's spawn. Whatever fails, nothing of the guest is left behind.
func (a *Agent) build(ctx context.Context, req *rpc.Request) (rep rpc.Reply) {
	uuid := req.Instance.UUID
	// A retried request for a guest that was built is answered, not
	// built twice.
	if info, err := a.o.Driver.Info(ctx, a.guest(req.Instance)); err == nil {
		return rpc.Reply{OK: true, PowerState: info.State}
	}

	img := *req.Image
	var fetcher ImageFetcher = a.o.Images
	if img.URL != "" {
		fetcher = &Glance{URL: img.URL, Token: img.Token}
	}
	base, format, err := a.cache.get(ctx, a.life, img, fetcher)
	if err != nil {
		return fail(hypervisor.NoState, imageError(ctx, uuid, img.ID, err))
	}

	r := &record{
		V: 1, UUID: uuid, Name: req.Instance.Name, Flavor: *req.Instance.Flavor,
		ImageID: img.ID, BaseFormat: format, ConfigDrive: req.ConfigDrive != nil && a.o.InstancesDir != "",
	}
	inst := a.instance(r)
	inst.BaseImage = base
	defer func() {
		if !rep.OK {
			a.undoBuild(ctx, inst)
		}
	}()
	buildFail := func(format string, args ...any) rpc.Reply {
		if ctx.Err() != nil {
			return fail(hypervisor.NoState, rpc.Errorf(rpc.CodeUnavailable, true,
				"Build of instance %s was cut short: %v", uuid, context.Cause(ctx)))
		}
		return fail(hypervisor.NoState, rpc.Errorf(rpc.CodeBuildFailed, true,
			"Build of instance %s aborted: %s", uuid, fmt.Sprintf(format, args...)))
	}
	if inst.Dir != "" {
		if err := os.MkdirAll(inst.Dir, 0o750); err != nil {
			return buildFail("%v", err)
		}
	}
	if r.ConfigDrive {
		if err := configdrive.Build(inst.ConfigDrive, req.ConfigDrive.Data(uuid, img.ID)); err != nil {
			return buildFail("config drive: %v", err)
		}
	} else if req.ConfigDrive != nil {
		a.log.Debug("no config drive without an instances directory", "uuid", uuid)
	}
	// The record comes before the guest: an agent killed during the
	// spawn finds it at restart, and reports the guest either way.
	if err := a.remember(r); err != nil {
		return buildFail("%v", err)
	}
	if err := a.o.Driver.Spawn(ctx, inst); err != nil {
		return buildFail("%v", err)
	}
	return rpc.Reply{OK: true, PowerState: a.state(ctx, inst)}
}

// undoBuild removes what a failed build made.
func (a *Agent) undoBuild(ctx context.Context, inst hypervisor.Instance) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := a.o.Driver.Destroy(ctx, inst); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		a.log.Warn("undo build: destroy guest", "uuid", inst.UUID, "err", err)
	}
	if err := a.forget(inst.UUID); err != nil {
		a.log.Warn("undo build", "uuid", inst.UUID, "err", err)
	}
}

// imageError says why a build could not have its image.
func imageError(ctx context.Context, uuid, imageID string, err error) *rpc.Error {
	switch {
	case errors.Is(err, ErrImageNotFound):
		return rpc.Errorf(rpc.CodeImageNotFound, false, "Image %s could not be found.", imageID)
	case errors.Is(err, ErrImageInvalid):
		return rpc.Errorf(rpc.CodeImageInvalid, false, "Build of instance %s aborted: %v", uuid, err)
	case unauthorized(err):
		return rpc.Errorf(rpc.CodeImageFailed, false, "Build of instance %s aborted: the image service refused the request: %v", uuid, err)
	case ctx.Err() != nil:
		return rpc.Errorf(rpc.CodeUnavailable, true, "Build of instance %s was cut short: %v", uuid, context.Cause(ctx))
	}
	return rpc.Errorf(rpc.CodeImageFailed, true, "Build of instance %s: image %s could not be downloaded: %v", uuid, imageID, err)
}

// destroy removes the guest and everything of it. A guest the driver does
// not have is destroyed already.
func (a *Agent) destroy(ctx context.Context, inst hypervisor.Instance) rpc.Reply {
	if err := a.o.Driver.Destroy(ctx, inst); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		return fail(a.state(ctx, inst), rpc.Errorf(rpc.CodeFailed, false, "%v", err))
	}
	if err := a.forget(inst.UUID); err != nil {
		return fail(hypervisor.NoState, rpc.Errorf(rpc.CodeFailed, false, "%v", err))
	}
	return rpc.Reply{OK: true, PowerState: hypervisor.NoState}
}

// snapshot writes the guest's disk to a file and uploads it.
func (a *Agent) snapshot(ctx context.Context, t *rpc.SnapshotTarget, inst hypervisor.Instance) error {
	var up ImageUploader
	if t.URL != "" {
		up = &Glance{URL: t.URL, Token: t.Token}
	} else if u, ok := a.o.Images.(ImageUploader); ok {
		up = u
	} else {
		return errors.New("snapshot: the request names no image service and the agent has none")
	}
	format := t.DiskFormat
	if format == "" {
		format = "qcow2"
	}
	parent := filepath.Join(a.o.ImageCacheDir, snapshotDir)
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	dir, err := os.MkdirTemp(parent, inst.UUID+"-")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "snapshot")
	if err := a.o.Driver.Snapshot(ctx, inst, path, format); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := up.Upload(ctx, t.ImageID, f, st.Size()); err != nil {
		return fmt.Errorf("Image upload of snapshot %s failed: %w", t.ImageID, err)
	}
	a.log.Info("snapshot uploaded", "uuid", inst.UUID, "image", t.ImageID, "format", format, "bytes", st.Size())
	return nil
}
