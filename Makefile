# Nimbus: build, run and test. `make up` starts the cloud, `make test` runs
# every test CI runs (installing the Debian packages they need first).
GO   ?= go
DATA ?= ./data

.PHONY: all build up test deps unit e2e e2e-identity e2e-tempest e2e-image e2e-tempest-image e2e-placement e2e-compute e2e-servers e2e-compute-split e2e-objectstore e2e-tempest-object-storage e2e-tempest-compute bench-identity bench-image bench-objectstore bench-compute load

all: build

build:
	$(GO) build -o bin/nimbus ./cmd/nimbus

# The test guest image (built from Debian packages, cached) is registered
# as public image "nimbus-test-guest", so a first server boots at once:
#   openstack server create --image nimbus-test-guest --flavor m1.tiny --wait vm1
TEST_IMAGE ?= $(HOME)/.cache/nimbus-guest/nimbus-guest.qcow2

# Best effort: building it needs apt-get download and qemu-img (qemu-utils);
# without them the cloud starts without the image.
up: build
	@[ -s $(TEST_IMAGE) ] && [ $(TEST_IMAGE) -nt test/guest/build-image.sh ] && [ $(TEST_IMAGE) -nt test/guest/init ] || \
	  test/guest/build-image.sh $(TEST_IMAGE) || echo "make up: no test guest image (see above); starting without it" >&2
	bin/nimbus up --data-dir $(DATA) $$([ -s $(TEST_IMAGE) ] && echo --test-image $(TEST_IMAGE))

# test = deps, then unit (vet + go test), then the end-to-end suites; each
# e2e suite runs even when an earlier one fails, and all must pass.
test: deps
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory e2e

deps:
	.ci/deps

unit:
	$(GO) vet ./...
	$(GO) test ./...

e2e: build
	@rc=0; \
	test/e2e/identity.sh || rc=1; \
	test/e2e/tempest-identity.sh || rc=1; \
	test/e2e/image.sh || rc=1; \
	test/e2e/tempest-image.sh || rc=1; \
	test/e2e/placement.sh || rc=1; \
	test/e2e/compute.sh || rc=1; \
	test/e2e/servers.sh || rc=1; \
	test/e2e/compute-split.sh || rc=1; \
	test/e2e/tempest-compute.sh || rc=1; \
	test/e2e/objectstore.sh || rc=1; \
	test/e2e/tempest-object-storage.sh || rc=1; \
	exit $$rc

e2e-identity: build
	test/e2e/identity.sh

e2e-tempest: build
	test/e2e/tempest-identity.sh

e2e-image: build
	test/e2e/image.sh

e2e-tempest-image: build
	test/e2e/tempest-image.sh

e2e-placement: build
	test/e2e/placement.sh

e2e-compute: build
	test/e2e/compute.sh

# Boots the test guest (test/guest/build-image.sh, cached) under QEMU.
e2e-servers: build
	test/e2e/servers.sh

# Compute as separate processes on nimbus up's bus (fake driver): two
# `serve compute-agent` hosts, one killed and shown down, and a
# `serve compute-scheduler compute-conductor` process.
e2e-compute-split: build
	test/e2e/compute-split.sh

# Tempest's compute API tests on the fake driver; failures by cause in
# /tmp/tempest-compute-failures.txt.
e2e-tempest-compute: build
	test/e2e/tempest-compute.sh

e2e-objectstore: build
	test/e2e/objectstore.sh

e2e-tempest-object-storage: build
	test/e2e/tempest-object-storage.sh

load:
	$(GO) build -o bin/nimbus-load ./cmd/nimbus-load

# BENCH_CONCURRENCY (1,8,32) and BENCH_DURATION (10s) tune the load.
bench-identity: build load
	test/e2e/bench-identity.sh

# BENCH_SIZE (1GiB), BENCH_MEM_SIZE (4GiB), BENCH_STRICT=1 fails below target.
bench-image: build load
	test/e2e/bench-image.sh

# BENCH_SIZE (4KiB), BENCH_CONCURRENCY (16), BENCH_DURATION (10s),
# BENCH_LARGE (256MiB); runs Debian's Swift (SAIO) and nimbus one after the other.
bench-objectstore: build load
	test/e2e/bench-objectstore.sh

# Fake driver on BENCH_FAKE_HOSTS (1000) hosts: POST /servers p50/p99, and
# BENCH_SCALE_SERVERS (10000) servers/s to ACTIVE; then the qemu driver
# (BENCH_QEMU=0 skips): POST->ACTIVE and the guest's console line against a
# hand-started qemu-system-x86_64. BENCH_STRICT=1 fails below target.
bench-compute: build load
	test/e2e/bench-compute.sh
