#!/usr/bin/env bash
# test/e2e/bench-identity.sh - `make bench-identity`: how fast a fresh `nimbus up`
# is ready (first start with its bootstrap, then a restart), its idle memory
# (RSS and PSS after 5 s idle), and the identity API under load (nimbus-load:
# token validate, token issue by token, token issue by password).
#
# Environment (besides lib.sh's):
#   BENCH_CONCURRENCY  [1,8,32]   BENCH_DURATION [10s]   BENCH_IDLE [5] seconds
#   NIMBUS_LOAD_BIN    load tool [bin/nimbus-load, built first]
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

LOAD="${NIMBUS_LOAD_BIN:-}"
if [ -z "$LOAD" ]; then
  LOAD="$E2E_ROOT/bin/nimbus-load"
  (cd "$E2E_ROOT" && go build -o bin/nimbus-load ./cmd/nimbus-load) || fail "go build ./cmd/nimbus-load failed"
fi

# mem PID: "RSS x MiB, PSS y MiB" (VmRSS of status, Pss of smaps_rollup).
mem() {
  awk '/^VmRSS:/ {rss = $2} /^Pss:/ {pss = $2}
    END {printf "RSS %.1f MiB, PSS %s", rss / 1024, pss == "" ? "n/a" : sprintf("%.1f MiB", pss / 1024)}' \
    "/proc/$1/status" "/proc/$1/smaps_rollup"
}

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start
FIRST_MS=$NIMBUS_READY_MS
nimbus_stop || fail "nimbus did not stop"
nimbus_start "$NIMBUS_DATA"
SECOND_MS=$NIMBUS_READY_MS

idle="${BENCH_IDLE:-5}"
sleep "$idle"
IDLE_MEM="$(mem "$NIMBUS_PID")"

unset OS_CLOUD OS_CLIENT_CONFIG_FILE
# shellcheck disable=SC1091
. "$NIMBUS_DATA/admin-openrc"

echo
echo "nimbus up, time to ready: ${FIRST_MS} ms on a new data dir (bootstrap), ${SECOND_MS} ms on restart"
echo "nimbus up, idle after ${idle}s: $IDLE_MEM (pid $NIMBUS_PID)"
echo
rc=0
"$LOAD" identity --concurrency "${BENCH_CONCURRENCY:-1,8,32}" --duration "${BENCH_DURATION:-10s}" || rc=$?
echo
echo "nimbus up, after the load: $(mem "$NIMBUS_PID")"
[ "$rc" = 0 ] || fail "nimbus-load identity exited $rc"
