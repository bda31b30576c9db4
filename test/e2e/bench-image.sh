#!/usr/bin/env bash
# test/e2e/bench-image.sh - `make bench-image`: image upload and download
# through `nimbus up` (nimbus-load image) against dd on the same disk, and
# how much the nimbus process grows while a big image streams through it.
#
# What is compared, BENCH_ROUNDS times, each round on the data dir's disk:
#   dd write  BENCH_SIZE of random bytes, read from memory (/dev/shm), with
#             bs=1M conv=fsync: the data is on disk when dd ends.
#   upload    nimbus-load image --size BENCH_SIZE --keep: a generated stream
#             from memory, through HTTP, md5+sha512 and the format inspector,
#             into a file that the server fsyncs before it answers. (Its own
#             download, the first read of the new file, is shown as "first".)
#   dd read   the uploaded image's file itself, DATA/images/<id>, with bs=1M.
#   download  the same image again (nimbus-load --image <id>: GET
#             /v2/images/{id}/file), every byte compared with what was sent.
# Each read starts after `sync; echo 3 > /proc/sys/vm/drop_caches`, so both
# read the same bytes of the same file from the disk, not from memory. The
# first reads of a file just written are slow, for dd too, so one more
# uncounted dd read comes before the two; and the two writes and the two
# reads swap order every round, so that neither gains from going second.
# Without root the caches cannot be dropped; then both reads are from the
# page cache (the summary says which), which measures the copy paths, not
# the disk. MB/s are 10^6 bytes/s on both sides. The summary shows the
# medians of the rounds, and of each round's ratio, since a virtual disk's
# speed drifts from one second to the next.
#
# Then nimbus-load image --size BENCH_MEM_SIZE while VmRSS of nimbus is read
# every 100 ms: the growth over the idle RSS before it.
#
# Targets (printed, and enforced with BENCH_STRICT=1): upload and download at
# least 90% of dd's write and read, growth < 64 MiB.
#
# Environment (besides lib.sh's):
#   BENCH_SIZE [1GiB] (bytes, or with a KiB/MiB/GiB suffix)  BENCH_ROUNDS [6] (even)
#   BENCH_MEM_SIZE [4GiB]  BENCH_STRICT [0]
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
ROUNDS="${BENCH_ROUNDS:-6}"
# Each order of the reads (and of the writes) in as many rounds as the other.
ROUNDS=$(((ROUNDS + 1) / 2 * 2))

# bytes SIZE: SIZE in bytes, for the sizes dd is given.
bytes() {
  local n="${1%[KMG]iB}"
  case "$1" in
    *KiB) echo $((n << 10)) ;;
    *MiB) echo $((n << 20)) ;;
    *GiB) echo $((n << 30)) ;;
    *[!0-9]* | "") fail "BENCH_SIZE=$1: give bytes or a KiB, MiB or GiB size" ;;
    *) echo "$1" ;;
  esac
}
SIZE_BYTES="$(bytes "$SIZE")"

CAN_DROP=0
if [ -w /proc/sys/vm/drop_caches ] && echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
  CAN_DROP=1
fi
drop_caches() {
  if [ "$CAN_DROP" = 1 ]; then
    sync
    echo 3 >/proc/sys/vm/drop_caches
  fi
}
LOAD_ARGS=(image --size "$SIZE")
CACHE="page cache kept (not root): reads from memory"
if [ "$CAN_DROP" = 1 ]; then
  LOAD_ARGS+=(--drop-caches)
  CACHE="page cache dropped before each read: reads from disk"
fi
# load ARGS...: run nimbus-load image with the common arguments, print its
# output; figure NAME OUTPUT: NAME=value from its RESULT line.
load() {
  local out
  out="$("$LOAD" "${LOAD_ARGS[@]}" "$@")" || { echo "$out"; fail "nimbus-load ${LOAD_ARGS[*]} $* failed"; }
  echo "$out"
}
figure() { sed -n "s/^RESULT.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }

# dd_mbps: MB/s (10^6) from dd's summary line on stdin ("N bytes ... copied, S s, ...").
dd_mbps() {
  awk '/bytes .* copied/ {for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") s = $(i - 1); b = $1}
    END {if (s > 0) printf "%.1f", b / 1e6 / s; else print "0"}'
}

# median of the numbers on stdin, one a line.
median() {
  sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start
unset OS_CLOUD OS_CLIENT_CONFIG_FILE
# shellcheck disable=SC1091
. "$NIMBUS_DATA/admin-openrc"

echo
echo "disk of the data dir: $(df -h --output=source,fstype,size,avail "$NIMBUS_DATA" | tail -1)"
echo "$CACHE"
SRC_DIR=/dev/shm
[ -d "$SRC_DIR" ] && [ -w "$SRC_DIR" ] || SRC_DIR="$E2E_DIR"
SRC="$(mktemp "$SRC_DIR/nimbus-bench-src.XXXXXX")"
e2e_on_exit "rm -f '$SRC'"
head -c "$SIZE_BYTES" /dev/urandom >"$SRC"
DD="$NIMBUS_DATA/dd.img"
: >"$E2E_DIR/figures"
for round in $(seq "$ROUNDS"); do
  echo
  echo "-- round $round of $ROUNDS"
  odd=$((round % 2))
  if [ "$odd" = 0 ]; then OUT="$(load --keep)"; fi
  drop_caches
  W="$(dd if="$SRC" of="$DD" bs=1M conv=fsync 2>&1 | dd_mbps)"
  if [ "$odd" = 1 ]; then
    drop_caches
    OUT="$(load --keep)"
  fi
  echo "dd write: $W MB/s (bs=1M conv=fsync)"
  echo "$OUT"
  UP="$(figure up_MBps "$OUT")"
  FIRST="$(figure down_MBps "$OUT")"
  ID="$(sed -n 's/^image: *//p' <<<"$OUT")"
  FILE="$NIMBUS_DATA/images/$ID"
  [ -f "$FILE" ] || fail "no file $FILE for image $ID"
  # Not counted: the first reads of a file just written are slower, for dd
  # as well (the upload's own download was the first).
  drop_caches
  dd if="$FILE" of=/dev/null bs=1M 2>/dev/null
  if [ "$odd" = 0 ]; then OUT="$(load --image "$ID")"; fi
  drop_caches
  R="$(dd if="$FILE" of=/dev/null bs=1M 2>&1 | dd_mbps)"
  if [ "$odd" = 1 ]; then OUT="$(load --image "$ID")"; fi
  echo "dd read:  $R MB/s (bs=1M, the image's file)"
  echo "$OUT"
  DOWN="$(figure down_MBps "$OUT")"
  osc image delete "$ID" || fail "openstack image delete $ID failed"
  rm -f "$DD"
  sync
  awk -v w="$W" -v r="$R" -v up="$UP" -v down="$DOWN" -v first="$FIRST" \
    'BEGIN {printf "%s %s %s %s %.1f %.1f %s\n", w, r, up, down, 100 * up / w, 100 * down / r, first}' >>"$E2E_DIR/figures"
done
rm -f "$SRC"
# Medians of each figure, and of each round's ratio: the disk's speed drifts
# between rounds, so a round compares with its own dd.
col() { awk -v c="$1" '{print $c}' "$E2E_DIR/figures" | median; }
DD_WRITE="$(col 1)"
DD_READ="$(col 2)"
UP="$(col 3)"
DOWN="$(col 4)"
UP_RATIO="$(col 5)"
DOWN_RATIO="$(col 6)"
FIRST="$(col 7)"

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
echo "== bench-image summary ($(nproc) CPUs; median of $ROUNDS rounds; $CACHE) =="
echo "rounds: dd write, dd read, upload, download (MB/s); upload/write, download/read (%); first download (MB/s):"
sed 's/^/  /' "$E2E_DIR/figures"
awk -v up="$UP" -v down="$DOWN" -v w="$DD_WRITE" -v r="$DD_READ" -v upr="$UP_RATIO" -v downr="$DOWN_RATIO" -v first="$FIRST" \
  -v size="$SIZE" -v msize="$MEM_SIZE" -v base="$BASE" -v max="$MAX" -v strict="${BENCH_STRICT:-0}" 'BEGIN {
    printf "upload   %s: %8.1f MB/s   dd write: %8.1f MB/s   ratio %5.1f%%  (target >= 90%%)\n", size, up, w, upr
    printf "download %s: %8.1f MB/s   dd read:  %8.1f MB/s   ratio %5.1f%%  (target >= 90%%)\n", size, down, r, downr
    printf "first download right after the upload (slow for dd too; not compared): %.1f MB/s\n", first
    g = (max - base) / 1024
    printf "nimbus RSS during %s: idle %.1f MiB, max %.1f MiB, growth %.1f MiB  (target < 64 MiB)\n", msize, base / 1024, max / 1024, g
    bad = (upr < 90) + (downr < 90) + (g >= 64)
    if (bad) print "below target"
    exit (strict && bad) ? 1 : 0
  }' || fail "below target (BENCH_STRICT=1)"
