#!/usr/bin/env bash
# test/e2e/servers.sh - boot the test guest image under QEMU with Debian's
# `openstack` CLI: server create --wait, the guest's console line with its
# instance UUID and key name (read from the config drive), stop, start,
# reboot, snapshot, delete; and placement holds no allocation of a deleted
# server. Builds the test image first (test/guest/build-image.sh, cached).
# Stops at the first unexpected result.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 not found (Debian package qemu-system-x86)"
IMAGE="${NIMBUS_TEST_IMAGE:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbus-guest/nimbus-guest.qcow2}"
if [ ! -s "$IMAGE" ] || [ "$HERE/../guest/build-image.sh" -nt "$IMAGE" ] || [ "$HERE/../guest/init" -nt "$IMAGE" ]; then
  step "build the test guest image"
  "$HERE/../guest/build-image.sh" "$IMAGE" >/dev/null
fi

F="$E2E_DIR/files"
mkdir -p "$F"
NIMBUS_UP_ARGS="--test-image $IMAGE" nimbus_start

# wait_status ID STATUS [SECONDS]: poll until the server has STATUS.
wait_status() {
  local id=$1 want=$2 limit=${3:-120} i status=""
  for ((i = 0; i < limit * 4; i++)); do
    status="$(osc server show "$id" -f value -c status 2>/dev/null)" || true
    [ "$status" = "$want" ] && return 0
    [ "$status" = ERROR ] && [ "$want" != ERROR ] && break
    sleep 0.25
  done
  osc server show "$id" -f json >&2 || true
  fail "server $id is $status, not $want"
}

# console_count ID TEXT: how many lines of the console log have TEXT.
console_count() {
  osc console log show "$1" 2>/dev/null | grep -cF "$2" || true
}

# wait_console ID TEXT [N]: poll the console log until more than N (0)
# lines have TEXT: a boot after the N seen so far.
wait_console() {
  local id=$1 text=$2 seen=${3:-0} i
  for ((i = 0; i < 240; i++)); do
    OUT="$(osc console log show "$id" 2>/dev/null)" || true
    (($(grep -cF "$text" <<<"$OUT") > seen)) && return 0
    sleep 0.5
  done
  printf '%s\n' "$OUT" | tail -20 >&2
  fail "console of $id never showed: $text"
}

step "the test image is registered"
run osc image show nimbus-test-guest -f json
expect_eq "status" "$(jfield status)" active
expect_eq "visibility" "$(jfield visibility)" public

step "flavor and key for the guest"
run osc flavor create --ram 256 --vcpus 1 --disk 1 e2e.guest
ssh-keygen -q -t ed25519 -N '' -f "$F/key" >/dev/null
run osc keypair create --public-key "$F/key.pub" e2e-key

step "server create --wait (QEMU)"
run osc server create --image nimbus-test-guest --flavor e2e.guest --key-name e2e-key --config-drive True \
  --wait e2e-server -f json
SERVER="$(jfield id)"
expect_eq "status" "$(jfield status)" ACTIVE
expect_eq "power state (1 running)" "$(jfield OS-EXT-STS:power_state)" 1

step "the guest's console shows its instance and key"
wait_console "$SERVER" "nimbus-guest: instance $SERVER key e2e-key"

step "server list / compute service list / hypervisor"
run osc server list -f value -c ID -c Status
expect_line "servers" "$OUT" "$SERVER ACTIVE"
run osc compute service list -f value -c Binary -c State
expect_line "services" "$OUT" "nova-compute up"

step "server stop / start"
BOOTS=$(console_count "$SERVER" "nimbus-guest: instance $SERVER")
run osc server stop "$SERVER"
wait_status "$SERVER" SHUTOFF
run osc server show "$SERVER" -f json
expect_eq "power state (4 shutdown)" "$(jfield OS-EXT-STS:power_state)" 4
run osc server start "$SERVER"
wait_status "$SERVER" ACTIVE
wait_console "$SERVER" "nimbus-guest: instance $SERVER key e2e-key" "$BOOTS"

step "QEMU killed under the server: SHUTOFF, then os-start works"
pgrep -f "qemu-system.*$SERVER" >/dev/null || fail "no QEMU process of $SERVER"
BOOTS=$(console_count "$SERVER" "nimbus-guest: instance $SERVER")
pkill -9 -f "qemu-system.*$SERVER"
wait_status "$SERVER" SHUTOFF 60
run osc server start "$SERVER"
wait_status "$SERVER" ACTIVE
wait_console "$SERVER" "nimbus-guest: instance $SERVER key e2e-key" "$BOOTS"

step "server reboot --hard --wait"
BOOTS=$(console_count "$SERVER" "nimbus-guest: instance $SERVER")
run osc server reboot --hard --wait "$SERVER"
wait_status "$SERVER" ACTIVE
wait_console "$SERVER" "nimbus-guest: instance $SERVER key e2e-key" "$BOOTS"

step "server image create (snapshot) --wait"
run osc server image create --name e2e-snap --wait "$SERVER" -f json
SNAP="$(jfield id)"
run osc image show "$SNAP" -f json
expect_eq "snapshot status" "$(jfield status)" active
expect_contains "snapshot properties" "$(jfield properties)" "$SERVER"
wait_status "$SERVER" ACTIVE

step "server delete --wait frees placement"
run osc server delete --wait "$SERVER"
run_fails osc server show "$SERVER"
run osc resource provider list -f value -c uuid
for rp in $OUT; do
  run osc resource provider usage show "$rp" -f value -c resource_class -c usage
  expect_line "usage of $rp" "$OUT" "VCPU 0"
  expect_line "usage of $rp" "$OUT" "MEMORY_MB 0"
done

step "a server from the snapshot boots too"
run osc server create --image e2e-snap --flavor e2e.guest --config-drive True --wait e2e-from-snap -f json
SERVER2="$(jfield id)"
wait_console "$SERVER2" "nimbus-guest: instance $SERVER2 key none"
run osc server delete --wait "$SERVER2"

nimbus_stop
log "servers.sh: all steps passed"
