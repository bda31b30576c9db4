#!/usr/bin/env bash
# test/e2e/bench-image.sh - `make bench-image`: image upload and download
# through `nimbus up` (nimbus-load image) against dd on the same disk, and
# how much the nimbus process grows while a big image streams through it.
#
#   1. dd writes BENCH_DD_MIB MiB of zeros into the data dir (conv=fsync) and
#      reads them back (after dropping the page cache, if we may).
#   2. nimbus-load image --size BENCH_SIZE: upload, download, md5 check.
#   3. nimbus-load image --size BENCH_MEM_SIZE while VmRSS of nimbus is read
#      every 100 ms: the growth over the idle RSS before it.
#
# Targets (printed, and enforced with BENCH_STRICT=1): upload >= 90% of dd's
# write, growth < 64 MiB.
#
# Environment (besides lib.sh's):
#   BENCH_SIZE [1GiB]  BENCH_MEM_SIZE [4GiB]  BENCH_DD_MIB [1024]  BENCH_STRICT [0]
#   NIMBUS_LOAD_BIN    load tool [bin/nimbus-load, built first]
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

LOAD="${NIMBUS_LOAD_BIN:-}"
if [ -z "$LOAD" ]; then
  LOAD="$E2E_ROOT/bin/nimbus-load"
  (cd "$E2E_ROOT" && go build -o bin/nimbus-load ./cmd/nimbus-load) || fail "go build ./cmd/nimbus-load failed"
fi
SIZE="${BENCH_SIZE:-1GiB}"
MEM_SIZE="${BENCH_MEM_SIZE:-4GiB}"
DD_MIB="${BENCH_DD_MIB:-1024}"

drop_caches() {
  sync
  if echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
    echo "dropped"
  else
    echo "not dropped (not root?)"
  fi
}

# dd_mbps: MB/s (10^6) from dd's summary line on stdin ("N bytes ... copied, S s, ...").
dd_mbps() {
  awk '/bytes .* copied/ {for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") s = $(i - 1); b = $1}
    END {if (s > 0) printf "%.1f", b / 1e6 / s; else print "0"}'
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start
unset OS_CLOUD OS_CLIENT_CONFIG_FILE
# shellcheck disable=SC1091
. "$NIMBUS_DATA/admin-openrc"

echo
echo "disk of the data dir: $(df -h --output=source,fstype,size,avail "$NIMBUS_DATA" | tail -1)"
DD="$NIMBUS_DATA/dd.img"
DD_WRITE="$(dd if=/dev/zero of="$DD" bs=1M count="$DD_MIB" conv=fsync 2>&1 | dd_mbps)"
DROP="$(drop_caches)"
DD_READ="$(dd if="$DD" of=/dev/null bs=1M 2>&1 | dd_mbps)"
rm -f "$DD"
echo "dd write ${DD_MIB} MiB (conv=fsync): $DD_WRITE MB/s"
echo "dd read  ${DD_MIB} MiB (page cache $DROP): $DD_READ MB/s"

echo
drop_caches >/dev/null
OUT="$("$LOAD" image --size "$SIZE")" || { echo "$OUT"; fail "nimbus-load image --size $SIZE failed"; }
echo "$OUT"
UP="$(sed -n 's/.*up_MBps=\([0-9.]*\).*/\1/p' <<<"$OUT")"
DOWN="$(sed -n 's/.*down_MBps=\([0-9.]*\).*/\1/p' <<<"$OUT")"

# Memory: VmRSS every 100 ms while MEM_SIZE goes up and down again.
echo
BASE="$(rss_kib "$NIMBUS_PID")"
MAXF="$E2E_DIR/rss-max"
echo "$BASE" >"$MAXF"
(
  max=$BASE
  while [ -r "/proc/$NIMBUS_PID/status" ]; do
    r="$(rss_kib "$NIMBUS_PID")"
    if [ -n "$r" ] && [ "$r" -gt "$max" ]; then
      max=$r
      echo "$max" >"$MAXF"
    fi
    e2e_sleep 0.1
  done
) &
POLLER=$!
MEM_OUT="$("$LOAD" image --size "$MEM_SIZE")" || { kill "$POLLER"; echo "$MEM_OUT"; fail "nimbus-load image --size $MEM_SIZE failed"; }
kill "$POLLER" 2>/dev/null || true
wait "$POLLER" 2>/dev/null || true
MAX="$(cat "$MAXF")"
echo "$MEM_OUT"

echo
echo "== bench-image summary ($(nproc) CPUs) =="
awk -v up="$UP" -v down="$DOWN" -v w="$DD_WRITE" -v r="$DD_READ" -v size="$SIZE" -v msize="$MEM_SIZE" \
  -v base="$BASE" -v max="$MAX" -v strict="${BENCH_STRICT:-0}" 'BEGIN {
    printf "upload   %s: %8.1f MB/s   dd write: %8.1f MB/s   ratio %5.1f%%  (target >= 90%%)\n", size, up, w, 100 * up / w
    printf "download %s: %8.1f MB/s   dd read:  %8.1f MB/s   ratio %5.1f%%\n", size, down, r, 100 * down / r
    g = (max - base) / 1024
    printf "nimbus RSS during %s: idle %.1f MiB, max %.1f MiB, growth %.1f MiB  (target < 64 MiB)\n", msize, base / 1024, max / 1024, g
    bad = (up < 0.9 * w) + (g >= 64)
    if (bad) print "below target"
    exit (strict && bad) ? 1 : 0
  }' || fail "below target (BENCH_STRICT=1)"
