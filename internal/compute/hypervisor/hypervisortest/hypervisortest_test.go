package hypervisortest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/hypervisortest"
)

// broken is the fake driver with one mistake, to show the suite catches it.
type broken struct {
	*fake.Driver
	mistake string
}

func (b broken) Pause(ctx context.Context, inst hypervisor.Instance) error {
	if b.mistake == "pause does nothing" {
		return nil
	}
	return b.Driver.Pause(ctx, inst)
}

func (b broken) Running(ctx context.Context) ([]string, error) {
	if b.mistake == "running lists nothing" {
		return nil, nil
	}
	return b.Driver.Running(ctx)
}

func (b broken) Info(ctx context.Context, inst hypervisor.Instance) (hypervisor.Info, error) {
	info, err := b.Driver.Info(ctx, inst)
	if b.mistake == "info of unknown guest succeeds" && err != nil {
		return hypervisor.Info{}, nil
	}
	return info, err
}

func (b broken) ConsoleOutput(ctx context.Context, inst hypervisor.Instance, maxBytes int) ([]byte, error) {
	if b.mistake == "console ignores maxBytes" {
		maxBytes = 0
	}
	return b.Driver.ConsoleOutput(ctx, inst, maxBytes)
}

func (b broken) Snapshot(ctx context.Context, inst hypervisor.Instance, path, format string) error {
	if b.mistake == "snapshot writes nothing" {
		return nil
	}
	return b.Driver.Snapshot(ctx, inst, path, format)
}

func (b broken) Destroy(ctx context.Context, inst hypervisor.Instance) error {
	if b.mistake == "destroy leaves a file" {
		os.WriteFile(filepath.Join(inst.Dir, "console.log"), nil, 0o644)
	}
	return b.Driver.Destroy(ctx, inst)
}

func (b broken) Events(ctx context.Context) <-chan hypervisor.Event {
	switch b.mistake {
	case "events never close":
		b.Driver.Events(ctx)
		return make(chan hypervisor.Event)
	case "crash not reported":
		ch := make(chan hypervisor.Event)
		go func() { <-ctx.Done(); close(ch) }()
		return ch
	}
	return b.Driver.Events(ctx)
}

func (b broken) Reboot(ctx context.Context, inst hypervisor.Instance, hard bool) error {
	if b.mistake == "hard reboot stops the guest" && hard {
		return b.Driver.PowerOff(ctx, inst, 0)
	}
	return b.Driver.Reboot(ctx, inst, hard)
}

const mistakeEnv = "HYPERVISORTEST_MISTAKE"

// TestBroken runs the suite on a broken driver; TestSuiteCatchesMistakes
// runs it in a child process and expects it to fail.
func TestBroken(t *testing.T) {
	mistake := os.Getenv(mistakeEnv)
	if mistake == "" {
		t.Skip("run by TestSuiteCatchesMistakes")
	}
	hypervisortest.Run(t, func(t *testing.T) hypervisor.Driver {
		return broken{fake.New(fake.Config{}), mistake}
	}, func(t *testing.T) hypervisor.Instance {
		return hypervisor.Instance{UUID: uuid.NewString(), VCPUs: 1, MemoryMB: 64, Dir: t.TempDir()}
	}, hypervisortest.Options{
		Timeout: 300 * time.Millisecond,
		Crash: func(t *testing.T, d hypervisor.Driver, inst hypervisor.Instance) {
			if err := d.(broken).Crash(inst.UUID); err != nil {
				t.Fatal(err)
			}
		},
	})
}

func TestSuiteCatchesMistakes(t *testing.T) {
	for mistake, subtest := range map[string]string{
		"pause does nothing":             "PauseUnpause",
		"running lists nothing":          "Running",
		"info of unknown guest succeeds": "UnknownGuest",
		"console ignores maxBytes":       "ConsoleOutput",
		"snapshot writes nothing":        "Snapshot",
		"destroy leaves a file":          "Destroy",
		"events never close":             "EventsCloseWithContext",
		"crash not reported":             "CrashIsReported",
		"hard reboot stops the guest":    "Reboot",
	} {
		t.Run(strings.ReplaceAll(mistake, " ", "_"), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBroken$", "-test.v")
			cmd.Env = append(os.Environ(), mistakeEnv+"="+mistake)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a driver whose %s:\n%s", mistake, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBroken/"+subtest+" ") {
				t.Errorf("a driver whose %s did not fail subtest %s:\n%s", mistake, subtest, out)
			}
		})
	}
}
