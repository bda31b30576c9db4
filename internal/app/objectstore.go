package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/objectstore"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/storage"
)

// runObjectStore starts this process's part of the object store: a
// storage node for the configured devices, the proxy, or both. `nimbus up`
// makes a ring of three local devices on first start.
func runObjectStore(ctx context.Context, cfg config.Config, o Options, validator authn.Validator, log *slog.Logger,
	serve func(string, int, http.Handler) error, closers *[]func() error) error {
	runStorage := slices.Contains(o.Services, "object-storage")
	runProxy := slices.Contains(o.Services, "object-proxy")
	if !runStorage && !runProxy {
		return nil
	}
	path := cfg.ObjectRing()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if !o.Bootstrap {
			return fmt.Errorf("object store: no ring at %s: make one with `nimbus ring`", path)
		}
		if err := os.MkdirAll(cfg.Path("objects", "rings"), 0o700); err != nil {
			return err
		}
		if err := objectstore.NewRing(path, cfg.ObjectStorageAddr(), cfg.ObjectDevices(),
			uint(cfg.ObjectStore.PartPower), cfg.ObjectStore.Replicas); err != nil {
			return fmt.Errorf("object store: %w", err)
		}
		log.Info("made the object ring", "path", path, "devices", len(cfg.ObjectDevices()))
	}
	rings, err := ring.Watch(path, 15*time.Second, log.With("component", "ring"))
	if err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	*closers = append(*closers, func() error { rings.Close(); return nil })
	client := storage.NewClient(2 * time.Second)

	if runStorage {
		devices, err := objectstore.Devices(cfg.ObjectDevices())
		if err != nil {
			return fmt.Errorf("object storage: %w", err)
		}
		c := cfg.ObjectStore
		node, err := storage.New(storage.Options{Devices: devices, Ring: rings, Addr: cfg.ObjectStorageAddr(),
			Client: client, Log: log.With("service", "object-storage"), Daemons: storage.Daemons{
				Replicate: c.ReplicateInterval, Update: c.UpdateInterval, Audit: c.AuditInterval,
				AuditRate: c.AuditRate, Expire: c.ExpireInterval}})
		if err != nil {
			return err
		}
		*closers = append(*closers, node.Close)
		if runProxy {
			// The proxy (and the node itself) reach this node in memory.
			client.Transport = &httpx.InProcess{Next: client.Transport,
				Hosts: map[string]http.Handler{cfg.ObjectStorageAddr(): node}}
		}
		if err := serve("object-storage", cfg.ObjectStore.StoragePort, node); err != nil {
			return err
		}
		node.Start(ctx)
	}
	if runProxy {
		opts := objectstore.ProxyOptions{Ring: rings, Client: client, Validator: validator,
			OperatorRoles: cfg.ObjectStore.OperatorRoles, ResellerAdminRole: cfg.ObjectStore.ResellerAdminRole,
			S3Location: cfg.ObjectStore.S3Location, Log: log.With("service", "object-proxy")}
		if v, ok := validator.(objectstore.S3Verifier); ok {
			opts.S3 = v
		}
		h, err := objectstore.NewProxy(opts)
		if err != nil {
			return err
		}
		if err := serve("object-proxy", cfg.ObjectStore.ProxyPort, h); err != nil {
			return err
		}
	}
	return nil
}
