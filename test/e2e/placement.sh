#!/usr/bin/env bash
# test/e2e/placement.sh - drive Debian's `openstack resource ...` commands
# (python3-osc-placement) through the Placement API of a fresh `nimbus up`:
# resource providers (nested), inventories, traits, aggregates, resource
# classes, allocations and usages, allocation candidates, and a claim that
# would over-commit refused. Stops at the first unexpected result.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start
pl() { osc --os-placement-api-version "${PV:-1.39}" "$@"; }

step "catalog show placement / version document"
run osc catalog show placement -f json
expect_contains "endpoints" "$(jfield endpoints)" "127.0.0.1:$NIMBUS_PLACEMENT_PORT"
run curl -sf "http://127.0.0.1:$NIMBUS_PLACEMENT_PORT/"
expect_contains "versions" "$OUT" '"max_version":"1.39"'

step "resource provider create (a host and a nested NUMA child)"
run pl resource provider create e2e-host -f json
HOST="$(jfield uuid)"
run pl resource provider create --parent-provider "$HOST" e2e-numa0 -f json
NUMA="$(jfield uuid)"
expect_eq "root of the child" "$(jfield root_provider_uuid)" "$HOST"
run pl resource provider list -f value -c name
expect_line "providers" "$OUT" "e2e-host"
expect_line "providers" "$OUT" "e2e-numa0"

step "resource provider inventory set / list"
run pl resource provider inventory set "$HOST" --resource VCPU=8 --resource MEMORY_MB=16384 \
  --resource VCPU:allocation_ratio=2.0 --resource DISK_GB=100
run pl resource provider inventory list "$HOST" -f value -c resource_class -c total
expect_line "inventory" "$OUT" "VCPU 8"
expect_line "inventory" "$OUT" "MEMORY_MB 16384"

step "traits and aggregates"
run pl trait create CUSTOM_E2E_FAST
run pl resource provider trait set --trait HW_CPU_X86_AVX2 --trait CUSTOM_E2E_FAST "$HOST"
run pl resource provider trait list "$HOST" -f value
expect_line "traits" "$OUT" "CUSTOM_E2E_FAST"
AGG="$(cat /proc/sys/kernel/random/uuid)"
run pl resource provider aggregate set --aggregate "$AGG" --generation 2 "$HOST"
expect_contains "aggregates" "$OUT" "$AGG"

step "resource class create"
run pl resource class create CUSTOM_E2E_GPU
run pl resource class list -f value -c name
expect_line "classes" "$OUT" "CUSTOM_E2E_GPU"
expect_line "classes" "$OUT" "VCPU"

step "allocation candidate list (resources + required trait)"
run pl allocation candidate list --resource VCPU=2 --resource MEMORY_MB=1024 --required CUSTOM_E2E_FAST -f value -c "resource provider"
expect_contains "candidates" "$OUT" "$HOST"
run pl allocation candidate list --resource VCPU=2 --required '!CUSTOM_E2E_FAST' -f value -c "resource provider"
# (nimbus up's own compute host is a candidate without the trait; the
# provider made here must not be.)
expect_no_line "candidates without the trait" "$OUT" "$HOST"

step "resource provider allocation set / show / usage"
CONSUMER="$(cat /proc/sys/kernel/random/uuid)"
PROJECT="$(osc project show admin -f value -c id)"
USER="$(osc user show admin -f value -c id)"
run pl resource provider allocation set "$CONSUMER" --project-id "$PROJECT" --user-id "$USER" --consumer-type INSTANCE \
  --allocation "rp=$HOST,VCPU=4,MEMORY_MB=2048"
run pl resource provider allocation show "$CONSUMER" -f value -c resource_provider -c resources
expect_contains "allocation" "$OUT" "$HOST"
run pl resource provider usage show "$HOST" -f value -c resource_class -c usage
expect_line "usage" "$OUT" "VCPU 4"
run pl resource usage show "$PROJECT" -f value -c resource_class -c usage
expect_contains "project usage (by consumer type at 1.38+)" "$OUT" "'MEMORY_MB': 2048"

step "a claim beyond capacity is refused"
run_fails pl resource provider allocation set "$(cat /proc/sys/kernel/random/uuid)" --project-id "$PROJECT" \
  --user-id "$USER" --consumer-type INSTANCE --allocation "rp=$HOST,VCPU=13"
expect_contains "refusal" "$ERR" "409"

step "allocation unset, provider delete"
run_fails pl resource provider delete "$HOST"
run pl resource provider allocation delete "$CONSUMER"
run pl resource provider delete "$NUMA"
run pl resource provider delete "$HOST"
run pl resource provider list -f value -c name
expect_no_line "providers" "$OUT" "e2e-host"

log "placement.sh: all $E2E_NSTEP steps passed"
