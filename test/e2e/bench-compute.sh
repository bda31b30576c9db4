#!/usr/bin/env bash
# test/e2e/bench-compute.sh - `make bench-compute`: the compute issue's
# performance figures, measured with nimbus-load compute against `nimbus up`.
#
# 1. The fake driver with BENCH_FAKE_HOSTS simulated hosts (1,000):
#    (a) POST /servers latency p50/p99 at each of BENCH_POST_CONCURRENCY,
#        BENCH_POST_SERVERS servers per level (settled, then deleted);
#        target: under 20 ms.
#    (b) POST -> ACTIVE with the fake driver (for reference, no target).
#    (c) BENCH_SCALE_SERVERS (10,000) servers created by
#        BENCH_SCALE_CONCURRENCY workers as fast as the cloud takes them:
#        servers/s reaching ACTIVE (target 500/s) and POST->ACTIVE p99.
# 2. The qemu driver (BENCH_QEMU=1, the default when qemu-system-x86_64 is
#    installed), on a fresh data dir with the test guest image registered:
#    (b) POST -> ACTIVE after a warm-up server has cached the image
#        (target under 1 s), and
#    (e) POST -> the guest's console line (config drive read, instance id
#        printed), against the same image started by hand with
#        qemu-system-x86_64 (test/guest/bootcheck, as boot-test.sh runs it,
#        same accelerator, 256 MB, config drive): target within 10%.
#        Nimbus's figure includes the API, scheduling, the overlay and the
#        config drive; the hand boot only QEMU from its start.
#
# Figures are printed, never enforced unless BENCH_STRICT=1: a benchmark,
# not a timed test.
#
# Environment (besides lib.sh's):
#   BENCH_FAKE_HOSTS [1000]  BENCH_POST_CONCURRENCY [1,8,32]  BENCH_POST_SERVERS [200]
#   BENCH_SCALE_SERVERS [10000]  BENCH_SCALE_CONCURRENCY [64]  BENCH_SCALE_POLL [20ms]
#   BENCH_FAKE [1] (0 skips part 1)
#   BENCH_QEMU [1 if qemu-system-x86_64 is found]  BENCH_QEMU_SERVERS [5]
#   BENCH_CONSOLE_POLL [200ms] (os-getConsoleOutput interval; faster polls take CPU from a TCG guest)  BENCH_HAND_BOOTS [5]  BENCH_STRICT [0]
#   NIMBUS_LOAD_BIN    load tool [bin/nimbus-load, built first]
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

LOAD="${NIMBUS_LOAD_BIN:-}"
if [ -z "$LOAD" ]; then
  LOAD="$E2E_ROOT/bin/nimbus-load"
  (cd "$E2E_ROOT" && go build -o bin/nimbus-load ./cmd/nimbus-load) || fail "go build ./cmd/nimbus-load failed"
fi
FAKE_HOSTS="${BENCH_FAKE_HOSTS:-1000}"
POST_CONC="${BENCH_POST_CONCURRENCY:-1,8,32}"
POST_SERVERS="${BENCH_POST_SERVERS:-200}"
SCALE_SERVERS="${BENCH_SCALE_SERVERS:-10000}"
SCALE_CONC="${BENCH_SCALE_CONCURRENCY:-64}"
SCALE_POLL="${BENCH_SCALE_POLL:-20ms}"
QEMU_SERVERS="${BENCH_QEMU_SERVERS:-5}"
HAND_BOOTS="${BENCH_HAND_BOOTS:-5}"
if [ -z "${BENCH_QEMU:-}" ]; then
  BENCH_QEMU=0
  command -v qemu-system-x86_64 >/dev/null && BENCH_QEMU=1
fi
command -v qemu-img >/dev/null || fail "qemu-img not found (Debian package qemu-utils)"

# load ARGS...: nimbus-load compute ARGS as the admin of the running cloud;
# its output is printed and kept in $OUT.
load() {
  local rc=0
  (
    # shellcheck disable=SC1091
    . "$NIMBUS_DATA/admin-openrc" && "$LOAD" compute "$@"
  ) | tee "$E2E_DIR/load.out" || rc=$?
  OUT="$(<"$E2E_DIR/load.out")"
  [ "$rc" = 0 ] || fail "nimbus-load compute $* failed (exit $rc)"
}
# figure PREFIX NAME: NAME=value of the RESULT line starting with PREFIX.
figure() { sed -n "s/^RESULT $1.* $2=\([0-9.]*\).*/\1/p" <<<"$OUT" | head -1; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

SUMMARY="$E2E_DIR/summary"
: >"$SUMMARY"
say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
BAD=0
# check NAME VALUE OP TARGET UNIT: one summary line, and BAD counted.
check() {
  local ok
  ok="$(awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN {print (op == "<" ? v < t : op == ">=" ? v >= t : v <= t) ? 1 : 0}')"
  [ "$ok" = 1 ] || BAD=$((BAD + 1))
  say "$(printf '%-52s %10s %s  (target %s %s %s)%s' "$1" "$2" "$5" "$3" "$4" "$5" "$([ "$ok" = 1 ] || echo '  BELOW TARGET')")"
}

# --- 1. fake driver, many hosts -------------------------------------------
BENCH_FAKE="${BENCH_FAKE:-1}"
POST_LINES=""
if [ "$BENCH_FAKE" = 1 ]; then
  echo "== fake driver, $FAKE_HOSTS hosts"
  export NIMBUS_COMPUTE_DRIVER=fake NIMBUS_COMPUTE_FAKE_HOSTS="$FAKE_HOSTS"
  E2E_READY_TIMEOUT="${E2E_READY_TIMEOUT:-120}" nimbus_start "$E2E_DIR/fake-data"
  step "a small image for the fake servers"
  qemu-img create -q -f qcow2 "$E2E_DIR/bench.qcow2" 64M
  run osc image create --disk-format qcow2 --container-format bare --public --file "$E2E_DIR/bench.qcow2" bench-image -f value -c id
  IMAGE="$OUT"
  # Measure once every fake host's service has reported.
  for _ in $(seq 60); do
    run osc compute service list -f value -c Binary -c State
    UP="$(grep -c '^nova-compute up$' <<<"$OUT" || true)"
    [ "$UP" -ge "$FAKE_HOSTS" ] && break
    e2e_sleep 2
  done
  echo "compute services up: $UP of $FAKE_HOSTS"

  step "(a) POST /servers latency, concurrency $POST_CONC, $POST_SERVERS servers each"
  load post --image "$IMAGE" --concurrency "$POST_CONC" --servers "$POST_SERVERS"
  POST_LINES="$(grep '^RESULT post' <<<"$OUT")"

  step "(b) POST -> ACTIVE, fake driver"
  load active --image "$IMAGE" --servers 20 --warmup 1 --poll 5ms
  FAKE_ACTIVE_P50="$(figure active p50_ms)"
  FAKE_ACTIVE_P99="$(figure active p99_ms)"

  step "(c) $SCALE_SERVERS servers on $FAKE_HOSTS hosts, $SCALE_CONC workers"
  load scale --image "$IMAGE" --servers "$SCALE_SERVERS" --concurrency "$SCALE_CONC" --poll "$SCALE_POLL" --timeout 10m
  SCALE_RATE="$(figure scale servers_per_s)"
  SCALE_P50="$(figure scale p50_ms)"
  SCALE_P99="$(figure scale p99_ms)"
  SCALE_POST_RATE="$(figure scale post_per_s)"
  nimbus_stop
  unset NIMBUS_COMPUTE_DRIVER NIMBUS_COMPUTE_FAKE_HOSTS
fi

# --- 2. qemu driver -------------------------------------------------------
if [ "$BENCH_QEMU" = 1 ]; then
  echo
  echo "== qemu driver, the test guest"
  GUEST="${NIMBUS_TEST_IMAGE:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbus-guest/nimbus-guest.qcow2}"
  if [ ! -s "$GUEST" ] || [ "$HERE/../guest/build-image.sh" -nt "$GUEST" ] || [ "$HERE/../guest/init" -nt "$GUEST" ]; then
    step "build the test guest image"
    "$HERE/../guest/build-image.sh" "$GUEST" >/dev/null
  fi
  NIMBUS_UP_ARGS="${NIMBUS_UP_ARGS:-} --test-image $GUEST" nimbus_start "$E2E_DIR/qemu-data"
  run osc flavor create --ram 256 --vcpus 1 --disk 1 bench.guest -f value -c id
  step "(b, e) POST -> ACTIVE and -> console line, $QEMU_SERVERS servers after a warm-up"
  load active --image nimbus-test-guest --flavor bench.guest --config-drive --servers "$QEMU_SERVERS" --warmup 1 \
    --poll 10ms --console-poll "${BENCH_CONSOLE_POLL:-200ms}" --timeout 3m --marker "nimbus-guest: instance {id}"
  QEMU_ACTIVE_P50="$(figure active p50_ms)"
  QEMU_ACTIVE_P99="$(figure active p99_ms)"
  QEMU_MARKER_P50="$(figure active marker_p50_ms)"
  ACCEL="$(grep -o 'accel[^ ]*[ =:]*\(kvm\|tcg\)' "$NIMBUS_LOG" | grep -o 'kvm\|tcg' | tail -1 || true)"
  nimbus_stop

  step "(e) the same image by hand: qemu-system-x86_64 with a config drive, ${ACCEL:-auto} ($HAND_BOOTS boots)"
  (cd "$E2E_ROOT" && go build -o "$E2E_DIR/bootcheck" ./test/guest/bootcheck) || fail "go build ./test/guest/bootcheck failed"
  : >"$E2E_DIR/hand"
  for i in $(seq "$HAND_BOOTS"); do
    out="$("$E2E_DIR/bootcheck" -image "$GUEST" -accel "${ACCEL:-auto}" -bus ide)" || { echo "$out"; fail "bootcheck failed"; }
    line="$(grep -E '^bootcheck: (kvm|tcg): line' <<<"$out")"
    echo "  boot $i: ${line#bootcheck: }"
    ACCEL="$(sed -E 's/^bootcheck: (kvm|tcg):.*/\1/' <<<"$line")"
    sed -E 's/.*line ([0-9.]+) s after.*/\1/' <<<"$line" >>"$E2E_DIR/hand"
  done
  HAND_S="$(median <"$E2E_DIR/hand")"
fi

echo
say "== bench-compute summary ($(nproc) CPUs) =="
if [ "$BENCH_FAKE" = 1 ]; then
  while read -r l; do
    c="$(sed -E 's/.*concurrency=([0-9]+).*/\1/' <<<"$l")"
    OUT="$l"
    check "POST /servers p50, concurrency $c (fake, $FAKE_HOSTS hosts)" "$(figure post p50_ms)" "<" 20 ms
    check "POST /servers p99, concurrency $c" "$(figure post p99_ms)" "<" 20 ms
  done <<<"$POST_LINES"
  say "$(printf '%-52s %10s ms  (p99 %s ms; reference)' "POST -> ACTIVE p50, fake driver" "$FAKE_ACTIVE_P50" "$FAKE_ACTIVE_P99")"
  check "servers/s reaching ACTIVE ($SCALE_SERVERS on $FAKE_HOSTS hosts)" "$SCALE_RATE" ">=" 500 "/s"
  say "$(printf '%-52s %10s ms  (p50 %s ms; POSTs accepted %s/s)' "POST -> ACTIVE p99 at that rate" "$SCALE_P99" "$SCALE_P50" "$SCALE_POST_RATE")"
else
  say "fake driver: skipped (BENCH_FAKE=0)"
fi
if [ "$BENCH_QEMU" = 1 ]; then
  check "POST -> ACTIVE p50, qemu ($ACCEL), image cached" "$QEMU_ACTIVE_P50" "<" 1000 ms
  say "$(printf '%-52s %10s ms' "POST -> ACTIVE p99, qemu" "$QEMU_ACTIVE_P99")"
  HAND_MS="$(awk -v s="$HAND_S" 'BEGIN {printf "%.1f", s * 1000}')"
  say "$(printf '%-52s %10s ms  (median of %s)' "console line, by hand (qemu-system-x86_64, $ACCEL)" "$HAND_MS" "$HAND_BOOTS")"
  say "$(printf '%-52s %10s ms' "console line, POST -> line through nimbus (p50)" "$QEMU_MARKER_P50")"
  RATIO="$(awk -v n="$QEMU_MARKER_P50" -v h="$HAND_MS" 'BEGIN {printf "%.1f", 100 * n / h}')"
  check "  nimbus / by hand" "$RATIO" "<=" 110 "%"
else
  say "qemu driver: skipped (BENCH_QEMU=0 or no qemu-system-x86_64)"
fi
[ "$BAD" = 0 ] || say "$BAD figure(s) below target"
if [ "${BENCH_STRICT:-0}" = 1 ] && [ "$BAD" != 0 ]; then
  fail "below target (BENCH_STRICT=1)"
fi
