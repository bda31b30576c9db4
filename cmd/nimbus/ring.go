package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
)

const ringUsage = `usage: nimbus ring [--builder FILE] [--ring FILE] [--data-dir DIR] [--config FILE] COMMAND ...

Edit the object store's ring builder and write the ring file every proxy and
storage node loads (as swift-ring-builder does). The ring file defaults to the
configured one (DATA/objects/rings/object.ring), the builder to the ring's path
with .builder (DATA/objects/rings/object.builder).

Commands:
  create --part-power N [--replicas R] [--min-part-hours H]
                             a new builder, with new hash path salts
  add --ip IP --device NAME [--region N] [--zone N] [--port PORT] [--weight W] [--meta TEXT]
                             a device; prints its id
  remove ID                  drain a device and drop it at the next rebalance
  set-weight ID WEIGHT
  rebalance                  move partitions, save the builder, write the ring file
  write                      write the ring file of the builder as it is
  show                       the builder, its devices and what they hold
  validate                   check the builder and the ring file
`

// ringCommands are the subcommands of `nimbus ring`.
var ringCommands = map[string]func(*ringCLI, []string) error{
	"create":     ringCreate,
	"add":        ringAdd,
	"remove":     ringRemove,
	"set-weight": ringSetWeight,
	"rebalance":  ringRebalance,
	"write":      ringWrite,
	"show":       ringShow,
	"validate":   ringValidate,
}

func cmdRing(args []string, stdout, stderr io.Writer) error {
	rc := &ringCLI{stdout: stdout, stderr: stderr}
	pre := rc.flags("ring COMMAND ...", "")
	pre.Usage = func() { fmt.Fprint(stderr, ringUsage) }
	if err := pre.Parse(args); err != nil {
		return err
	}
	if pre.NArg() == 0 {
		pre.Usage()
		return flag.ErrHelp
	}
	name := pre.Arg(0)
	cmd, ok := ringCommands[name]
	if !ok {
		pre.Usage()
		return fmt.Errorf("unknown ring command %q", name)
	}
	rc.pre = pre
	return cmd(rc, pre.Args()[1:])
}

// ringCLI is one run of `nimbus ring`: the options common to every
// subcommand, which may come before or after the subcommand's name.
type ringCLI struct {
	stdout, stderr io.Writer
	pre            *flag.FlagSet // the options before the subcommand
	c              *common
	builder, ring  *string
}

func (rc *ringCLI) flags(usage, summary string) *flag.FlagSet {
	fs, c := newFlags(usage, summary, rc.stderr)
	rc.c = c
	rc.builder = fs.String("builder", "", "ring builder file (default: the ring file's path with .builder)")
	rc.ring = fs.String("ring", "", "ring file (default from config: DATA/objects/rings/object.ring)")
	return fs
}

// parse takes the options given before the subcommand, then parses args,
// flags and positional arguments in any order, and checks the count of
// positional ones.
func (rc *ringCLI) parse(fs *flag.FlagSet, args []string, npos int) ([]string, error) {
	var err error
	rc.pre.Visit(func(f *flag.Flag) {
		if e := fs.Set(f.Name, f.Value.String()); e != nil && err == nil {
			err = e
		}
	})
	if err != nil {
		return nil, err
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != npos {
		fs.Usage()
		return nil, fmt.Errorf("want %d arguments, got %d", npos, len(pos))
	}
	return pos, nil
}

// paths are the builder and ring files.
func (rc *ringCLI) paths() (builder, ringFile string, err error) {
	cfg, err := rc.c.load()
	if err != nil {
		return "", "", err
	}
	ringFile = *rc.ring
	if ringFile == "" {
		ringFile = cfg.ObjectRing()
	}
	builder = *rc.builder
	if builder == "" {
		builder = strings.TrimSuffix(ringFile, ".ring") + ".builder"
	}
	return builder, ringFile, nil
}

func (rc *ringCLI) load() (*ring.Builder, string, string, error) {
	path, ringFile, err := rc.paths()
	if err != nil {
		return nil, "", "", err
	}
	b, err := ring.LoadBuilder(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", "", fmt.Errorf("no ring builder at %s: make one with `nimbus ring create`", path)
	}
	return b, path, ringFile, err
}

func ringCreate(rc *ringCLI, args []string) error {
	fs := rc.flags("ring create --part-power N [--replicas R] [--min-part-hours H]",
		"Start a ring builder with new random hash path salts. Pick the part power so that\n"+
			"each device will hold about 100 or more partition-replicas at the cluster's largest.")
	partPower := fs.Uint("part-power", 0, "2^N partitions, N from 1 to 24 (required)")
	replicas := fs.Int("replicas", 3, "replicas of each partition, 1 to 10")
	hours := fs.Float64("min-part-hours", 1, "hours a moved partition stays before another of its replicas may move")
	if _, err := rc.parse(fs, args, 0); err != nil {
		return err
	}
	if *partPower == 0 {
		fs.Usage()
		return errors.New("--part-power is required")
	}
	if *hours < 0 {
		return errors.New("--min-part-hours must not be negative")
	}
	path, _, err := rc.paths()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("ring builder %s exists; a new one would have new hash salts and move every object", path)
	}
	b, err := ring.NewBuilder(*partPower, *replicas, time.Duration(*hours*float64(time.Hour)))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := b.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(rc.stdout, "created %s: %d partitions (part power %d), %d replicas, min part hours %v\n",
		path, 1<<*partPower, *partPower, *replicas, b.MinPartHours())
	return nil
}

func ringAdd(rc *ringCLI, args []string) error {
	fs := rc.flags("ring add --ip IP --device NAME [--region N] [--zone N] [--port PORT] [--weight W] [--meta TEXT]",
		"Add a device; it gets partitions at the next rebalance. Prints the device's id.")
	var d ring.Device
	fs.IntVar(&d.Region, "region", 1, "region")
	fs.IntVar(&d.Zone, "zone", 1, "zone in the region")
	fs.StringVar(&d.IP, "ip", "", "storage node address (required)")
	fs.IntVar(&d.Port, "port", 0, "storage node port (default from config: objectstore.storage_port)")
	fs.StringVar(&d.Name, "device", "", "device directory name on the node, e.g. d1 (required)")
	fs.Float64Var(&d.Weight, "weight", 100, "relative share of partitions, e.g. the size in GB")
	fs.StringVar(&d.Meta, "meta", "", "free text kept with the device")
	if _, err := rc.parse(fs, args, 0); err != nil {
		return err
	}
	if d.IP == "" || d.Name == "" {
		fs.Usage()
		return errors.New("--ip and --device are required")
	}
	if d.Port == 0 {
		cfg, err := rc.c.load()
		if err != nil {
			return err
		}
		d.Port = cfg.ObjectStore.StoragePort
	}
	b, path, _, err := rc.load()
	if err != nil {
		return err
	}
	id, err := b.Add(d)
	if err != nil {
		return err
	}
	if err := b.Save(path); err != nil {
		return err
	}
	fmt.Fprintln(rc.stdout, id)
	return nil
}

func ringRemove(rc *ringCLI, args []string) error {
	fs := rc.flags("ring remove ID", "Mark a device for removal: the next rebalance moves its partitions away and drops it.")
	pos, err := rc.parse(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := strconv.Atoi(pos[0])
	if err != nil {
		return fmt.Errorf("device id %q is not a number", pos[0])
	}
	b, path, _, err := rc.load()
	if err != nil {
		return err
	}
	if err := b.Remove(id); err != nil {
		return err
	}
	if err := b.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(rc.stdout, "device %d will be drained and dropped by the next rebalance\n", id)
	return nil
}

func ringSetWeight(rc *ringCLI, args []string) error {
	fs := rc.flags("ring set-weight ID WEIGHT", "Change a device's weight; the next rebalance moves partitions to match.")
	pos, err := rc.parse(fs, args, 2)
	if err != nil {
		return err
	}
	id, err := strconv.Atoi(pos[0])
	if err != nil {
		return fmt.Errorf("device id %q is not a number", pos[0])
	}
	w, err := strconv.ParseFloat(pos[1], 64)
	if err != nil {
		return fmt.Errorf("weight %q is not a number", pos[1])
	}
	b, path, _, err := rc.load()
	if err != nil {
		return err
	}
	if err := b.SetWeight(id, w); err != nil {
		return err
	}
	if err := b.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(rc.stdout, "device %d weight %g\n", id, w)
	return nil
}

func ringRebalance(rc *ringCLI, args []string) error {
	fs := rc.flags("ring rebalance", "Move partitions to match the devices and weights, save the builder and write the ring file.")
	if _, err := rc.parse(fs, args, 0); err != nil {
		return err
	}
	b, path, ringFile, err := rc.load()
	if err != nil {
		return err
	}
	now := time.Now()
	before := b.Version()
	moved, balance, err := b.Rebalance(now)
	if err != nil {
		return err
	}
	locked, until := b.Locked(now)
	if b.Version() == before {
		if ringVersion(ringFile) != before {
			// Nothing moved, but the ring file is missing or behind.
			return writeRing(rc, b, ringFile)
		}
		if locked > 0 && balance > 1 {
			return fmt.Errorf("nothing can move yet: %d partitions moved less than %v ago (min part hours); balance %.2f%%; try again after %s",
				locked, b.MinPartHours(), balance, until.Format(time.DateTime))
		}
		return fmt.Errorf("nothing to rebalance: balance %.2f%%, ring file %s is current (version %d)", balance, ringFile, before)
	}
	if err := b.Save(path); err != nil {
		return err
	}
	if err := b.WriteRing(ringFile); err != nil {
		return fmt.Errorf("%w (the builder is saved: run `nimbus ring write`)", err)
	}
	total := b.Replicas() << b.PartPower()
	fmt.Fprintf(rc.stdout, "moved %d partition-replicas (%.1f%% of %d), balance %.2f%%; wrote %s (version %d)\n",
		moved, 100*float64(moved)/float64(total), total, balance, ringFile, b.Version())
	if balance > 1 && locked > 0 {
		fmt.Fprintf(rc.stdout, "%d partitions moved less than %v ago; rebalance again after %s to even out further\n",
			locked, b.MinPartHours(), until.Format(time.DateTime))
	}
	return nil
}

// ringVersion is the version of the ring file, -1 when it does not load.
func ringVersion(path string) int64 {
	r, err := ring.Load(path)
	if err != nil {
		return -1
	}
	return r.Version()
}

func writeRing(rc *ringCLI, b *ring.Builder, ringFile string) error {
	if err := os.MkdirAll(filepath.Dir(ringFile), 0o700); err != nil {
		return err
	}
	if err := b.WriteRing(ringFile); err != nil {
		return err
	}
	fmt.Fprintf(rc.stdout, "wrote %s (version %d)\n", ringFile, b.Version())
	return nil
}

func ringWrite(rc *ringCLI, args []string) error {
	fs := rc.flags("ring write", "Write the ring file of the builder's current assignment.")
	if _, err := rc.parse(fs, args, 0); err != nil {
		return err
	}
	b, _, ringFile, err := rc.load()
	if err != nil {
		return err
	}
	return writeRing(rc, b, ringFile)
}

func ringShow(rc *ringCLI, args []string) error {
	fs := rc.flags("ring show", "Show the builder: its shape, version, balance and devices.")
	if _, err := rc.parse(fs, args, 0); err != nil {
		return err
	}
	b, path, ringFile, err := rc.load()
	if err != nil {
		return err
	}
	w := rc.stdout
	fmt.Fprintf(w, "%s: version %d, %d partitions (part power %d), %d replicas, min part hours %v, balance %.2f%%\n",
		path, b.Version(), 1<<b.PartPower(), b.PartPower(), b.Replicas(), b.MinPartHours(), b.Balance())
	switch v := ringVersion(ringFile); {
	case v < 0:
		fmt.Fprintf(w, "ring file %s: missing or unreadable\n", ringFile)
	case v == b.Version():
		fmt.Fprintf(w, "ring file %s: version %d, current\n", ringFile, v)
	default:
		fmt.Fprintf(w, "ring file %s: version %d, not the builder's: run `nimbus ring rebalance` or `nimbus ring write`\n", ringFile, v)
	}
	if b.Pending() {
		fmt.Fprintln(w, "devices changed since the last rebalance: run `nimbus ring rebalance`")
	}
	if n, until := b.Locked(time.Now()); n > 0 {
		fmt.Fprintf(w, "%d partitions moved less than %v ago (all may move after %s)\n", n, b.MinPartHours(), until.Format(time.DateTime))
	}
	usage := b.Usage()
	fmt.Fprintf(w, "%d devices:\n", len(usage))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "id\tregion\tzone\taddress\tdevice\tweight\tpartitions\tbalance\t\tmeta")
	for _, u := range usage {
		note := ""
		if u.Removing {
			note = "removing"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%.2f\t%d\t%.2f\t%s\t%s\n",
			u.ID, u.Region, u.Zone, u.Addr(), u.Name, u.Weight, u.Parts, u.Balance, note, u.Meta)
	}
	return tw.Flush()
}

func ringValidate(rc *ringCLI, args []string) error {
	fs := rc.flags("ring validate", "Check the builder's assignment and that the ring file loads and matches it.")
	if _, err := rc.parse(fs, args, 0); err != nil {
		return err
	}
	b, path, ringFile, err := rc.load()
	if err != nil {
		return err
	}
	var problems []string
	if err := b.Validate(); err != nil {
		problems = append(problems, fmt.Sprintf("builder %s: %v", path, err))
	}
	if b.Pending() {
		problems = append(problems, fmt.Sprintf("builder %s has device changes no rebalance has taken in: run `nimbus ring rebalance`", path))
	}
	if r, err := ring.Load(ringFile); err != nil {
		problems = append(problems, err.Error())
	} else if b.Pending() {
		// Compared after the rebalance.
	} else if br, err := b.Ring(); err != nil {
		problems = append(problems, fmt.Sprintf("builder %s: %v", path, err))
	} else if r.Version() != b.Version() {
		problems = append(problems, fmt.Sprintf("ring file %s is version %d, the builder %d: run `nimbus ring write`", ringFile, r.Version(), b.Version()))
	} else if !sameRing(r, br) {
		problems = append(problems, fmt.Sprintf("ring file %s differs from the builder at the same version %d: run `nimbus ring write`", ringFile, r.Version()))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(rc.stderr, p)
		}
		return fmt.Errorf("ring: %d problems", len(problems))
	}
	fmt.Fprintf(rc.stdout, "%s and %s are valid (version %d)\n", path, ringFile, b.Version())
	return nil
}

// sameRing compares two rings through what nodes use of them.
func sameRing(a, b *ring.Ring) bool {
	if a.PartPower() != b.PartPower() || a.Replicas() != b.Replicas() ||
		a.Hash("a", "c", "o") != b.Hash("a", "c", "o") || !slices.Equal(a.Devices(), b.Devices()) {
		return false
	}
	for p := range a.Partitions() {
		if !slices.Equal(a.Primaries(p), b.Primaries(p)) {
			return false
		}
	}
	return true
}
