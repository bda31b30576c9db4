# shellcheck shell=bash
# test/e2e/lib.sh - sourced by the end-to-end scripts. Runs `bin/nimbus up` in a
# temp dir on free ports, waits for its ready line, and stops it on exit.
#
#   . "$(dirname "$0")/lib.sh"
#   nimbus_start            # build, start, wait; exports OS_CLOUD and friends
#   osc project list        # Debian's openstack CLI against it
#   nimbus_stop; nimbus_start "$NIMBUS_DATA"   # restart on the same data
#
# Set by nimbus_start:
#   E2E_DIR          temp dir: data/, nimbus.N.log (one per start). Removed when
#                    the script succeeds (unless E2E_KEEP=1), kept on failure.
#   NIMBUS_DATA      the data dir ($E2E_DIR/data unless given)
#   NIMBUS_LOG       stdout+stderr of the running nimbus
#   NIMBUS_PID       its pid
#   NIMBUS_READY_MS  ms from exec to the "nimbus is ready" line
#   NIMBUS_AUTH_URL  OS_AUTH_URL of DATA/admin-openrc
#   OS_CLOUD=nimbus OS_CLIENT_CONFIG_FILE=$NIMBUS_DATA/clouds.yaml (exported)
# Environment:
#   NIMBUS_BIN         binary to run [$ROOT/bin/nimbus, built first by go build]
#   NIMBUS_NO_BUILD=1  do not build bin/nimbus
#   NIMBUS_UP_ARGS     more arguments for `nimbus up`, e.g. "--log-level warn"
#   E2E_PORT_VARS      variables given a free port each [NIMBUS_IDENTITY_PORT NIMBUS_IMAGE_PORT NIMBUS_OBJECTSTORE_PROXY_PORT NIMBUS_OBJECTSTORE_STORAGE_PORT NIMBUS_PLACEMENT_PORT NIMBUS_COMPUTE_PORT]
#   E2E_READY_TIMEOUT  seconds to wait for the ready line [30]
#   E2E_STOP_TIMEOUT   seconds to wait for exit after SIGTERM [10]
#   E2E_KEEP=1         keep E2E_DIR even on success
#   E2E_LOG_TAIL       log lines printed on failure [60]

set -euo pipefail
shopt -s inherit_errexit

E2E_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
E2E_PY=/usr/bin/python3 # Debian's, not a pyenv shim
E2E_NAME="$(basename "$0" .sh)"

# A cloud chosen in the caller's shell must not leak into the tests.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^OS_' || true)

E2E_DIR="$(mktemp -d "${TMPDIR:-/tmp}/nimbus-e2e-$E2E_NAME.XXXXXX")"
NIMBUS_PID=""
NIMBUS_LOG=""
NIMBUS_DATA=""
E2E_STARTS=0

# A fifo nobody writes to: `read -t` on it sleeps without forking.
mkfifo "$E2E_DIR/.sleep"
exec {E2E_SLEEP_FD}<>"$E2E_DIR/.sleep"
e2e_sleep() { read -r -t "$1" -u "$E2E_SLEEP_FD" _ || true; }

e2e_now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$((10#$t))"; }

log() { printf '%s\n' "$*"; }
# fail MSG: stop the script, also from inside $(...), where exit alone would
# only end the subshell.
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  [ "$BASHPID" = "$$" ] || kill -USR1 "$$"
  exit 1
}

# e2e_free_ports N: N distinct free TCP ports on 127.0.0.1, below the
# ephemeral range so that outgoing connections do not take them meanwhile.
e2e_free_ports() {
  "$E2E_PY" - "$1" <<'EOF'
import random, socket, sys
lo, hi = 20000, 32000
try:
    lo_eph = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    hi = min(hi, lo_eph - 1)
except OSError:
    pass
held = []
while len(held) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(lo, hi)))
    except OSError:
        s.close()
        continue
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

e2e_build() {
  if [ -n "${NIMBUS_BIN:-}" ]; then
    [ -x "$NIMBUS_BIN" ] || fail "NIMBUS_BIN=$NIMBUS_BIN is not an executable"
    return
  fi
  NIMBUS_BIN="$E2E_ROOT/bin/nimbus"
  [ "${NIMBUS_NO_BUILD:-0}" = 1 ] && { [ -x "$NIMBUS_BIN" ] || fail "$NIMBUS_BIN missing"; return; }
  (cd "$E2E_ROOT" && go build -o bin/nimbus ./cmd/nimbus) || fail "go build ./cmd/nimbus failed"
}

# nimbus_alive: the started process is running (not gone, not a zombie).
nimbus_alive() {
  [ -n "$NIMBUS_PID" ] && kill -0 "$NIMBUS_PID" 2>/dev/null || return 1
  local _pid _comm state
  read -r _pid _comm state _ <"/proc/$NIMBUS_PID/stat" 2>/dev/null || return 1
  [ "$state" != Z ]
}

nimbus_log_tail() {
  [ -n "$NIMBUS_LOG" ] && [ -f "$NIMBUS_LOG" ] || return 0
  echo "----- last ${E2E_LOG_TAIL:-60} lines of $NIMBUS_LOG" >&2
  tail -n "${E2E_LOG_TAIL:-60}" "$NIMBUS_LOG" >&2
  echo "-----" >&2
}

# nimbus_start [DATA_DIR]: start `nimbus up` and wait for "nimbus is ready".
# Ports are chosen once per script, so a restart serves the same URLs.
nimbus_start() {
  [ -z "$NIMBUS_PID" ] || fail "nimbus_start: nimbus is already running (pid $NIMBUS_PID)"
  if [ "$E2E_STARTS" = 0 ]; then e2e_build; fi
  NIMBUS_DATA="${1:-${NIMBUS_DATA:-$E2E_DIR/data}}"
  mkdir -p "$NIMBUS_DATA"
  NIMBUS_DATA="$(cd "$NIMBUS_DATA" && pwd)"

  local v ports i=0
  local -a vars
  read -r -a vars <<<"${E2E_PORT_VARS:-NIMBUS_IDENTITY_PORT NIMBUS_IMAGE_PORT NIMBUS_OBJECTSTORE_PROXY_PORT NIMBUS_OBJECTSTORE_STORAGE_PORT NIMBUS_PLACEMENT_PORT NIMBUS_COMPUTE_PORT NIMBUS_COMPUTE_METADATA_PORT NIMBUS_COMPUTE_NOVNCPROXY_PORT NIMBUS_COMPUTE_SERIALPROXY_PORT}"
  if [ -z "${E2E_PORTS:-}" ]; then
    E2E_PORTS="$(e2e_free_ports "${#vars[@]}")"
  fi
  read -r -a ports <<<"$E2E_PORTS"
  for v in "${vars[@]}"; do
    export "$v=${ports[i]}"
    i=$((i + 1))
  done

  E2E_STARTS=$((E2E_STARTS + 1))
  NIMBUS_LOG="$E2E_DIR/nimbus.$E2E_STARTS.log"
  : >"$NIMBUS_LOG"
  local timeout="${E2E_READY_TIMEOUT:-30}" t0 now ready=0 line partial="" fd
  local -a extra
  read -r -a extra <<<"${NIMBUS_UP_ARGS:-}"
  t0=$(e2e_now_us)
  "$NIMBUS_BIN" up --data-dir "$NIMBUS_DATA" --listen-host 127.0.0.1 "${extra[@]}" \
    >>"$NIMBUS_LOG" 2>&1 </dev/null &
  NIMBUS_PID=$!

  # Follow the log without forking, so that the time to ready is exact to a
  # few ms: read whole lines, keep a partial one until its end arrives.
  exec {fd}<"$NIMBUS_LOG"
  while :; do
    if IFS= read -r line <&"$fd"; then
      line="$partial$line"
      partial=""
      [[ $line == *"nimbus is ready"* ]] && { ready=1; break; }
      continue
    fi
    partial+="$line"
    [[ $partial == *"nimbus is ready"* ]] && { ready=1; break; }
    now=$(e2e_now_us)
    if ! nimbus_alive; then
      exec {fd}<&-
      local rc=0
      wait "$NIMBUS_PID" || rc=$?
      NIMBUS_PID=""
      nimbus_log_tail
      fail "nimbus up exited with status $rc before it was ready"
    fi
    if ((now - t0 > timeout * 1000000)); then
      exec {fd}<&-
      nimbus_log_tail
      fail "nimbus up printed no \"nimbus is ready\" line within ${timeout}s"
    fi
    e2e_sleep 0.002
  done
  now=$(e2e_now_us)
  exec {fd}<&-
  ((ready))
  NIMBUS_READY_MS=$(((now - t0) / 1000))

  export OS_CLOUD=nimbus
  export OS_CLIENT_CONFIG_FILE="$NIMBUS_DATA/clouds.yaml"
  [ -f "$OS_CLIENT_CONFIG_FILE" ] || fail "nimbus is ready but $OS_CLIENT_CONFIG_FILE does not exist"
  [ -f "$NIMBUS_DATA/admin-openrc" ] || fail "nimbus is ready but $NIMBUS_DATA/admin-openrc does not exist"
  NIMBUS_AUTH_URL="$(openrc_get OS_AUTH_URL)"
  log "nimbus up: ready in ${NIMBUS_READY_MS} ms (pid $NIMBUS_PID, $NIMBUS_AUTH_URL, data $NIMBUS_DATA)"
}

# nimbus_stop: SIGTERM, then wait; fails if it has not exited in time.
nimbus_stop() {
  [ -n "$NIMBUS_PID" ] || return 0
  local pid="$NIMBUS_PID" t0 rc=0 timeout="${E2E_STOP_TIMEOUT:-10}"
  t0=$(e2e_now_us)
  kill -TERM "$pid" 2>/dev/null || true
  while nimbus_alive; do
    if (($(e2e_now_us) - t0 > timeout * 1000000)); then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      NIMBUS_PID=""
      nimbus_log_tail
      printf 'FAIL: nimbus (pid %s) did not exit within %ss of SIGTERM; killed\n' "$pid" "$timeout" >&2
      return 1
    fi
    e2e_sleep 0.01
  done
  wait "$pid" || rc=$?
  NIMBUS_PID=""
  log "nimbus stopped in $((($(e2e_now_us) - t0) / 1000)) ms, exit status $rc"
  # 143 = killed by the SIGTERM itself (no handler): acceptable, but say so.
  [ "$rc" = 0 ] || log "note: nimbus exited with status $rc after SIGTERM (a graceful shutdown exits 0)"
}

# e2e_on_exit CMD: run CMD (with eval) when the script exits, e.g. to stop
# a helper server it started.
E2E_ON_EXIT=()
e2e_on_exit() { E2E_ON_EXIT+=("$1"); }

e2e_exit() {
  local rc=$?
  set +e
  if [ -n "$NIMBUS_PID" ]; then
    nimbus_stop || rc=1
  fi
  local c
  for c in "${E2E_ON_EXIT[@]}"; do eval "$c"; done
  exec {E2E_SLEEP_FD}<&- 2>/dev/null
  if [ "$rc" != 0 ]; then
    nimbus_log_tail
    echo "$E2E_NAME: FAILED (exit $rc); logs and data kept in $E2E_DIR" >&2
  elif [ "${E2E_KEEP:-0}" = 1 ]; then
    echo "$E2E_NAME: kept $E2E_DIR"
  else
    rm -rf "$E2E_DIR"
  fi
  exit "$rc"
}
trap e2e_exit EXIT
trap 'exit 1' USR1
trap 'exit 130' INT
trap 'exit 143' TERM

# openrc_get VAR: the value DATA/admin-openrc gives VAR.
openrc_get() {
  # shellcheck disable=SC1091
  (. "$NIMBUS_DATA/admin-openrc" >/dev/null 2>&1 && printf '%s' "${!1:-}")
}

# osc ARGS...: Debian's openstack CLI (a pyenv shim may shadow `openstack`).
osc() { timeout "${E2E_CLI_TIMEOUT:-120}" /usr/bin/openstack "$@"; }

# --- checks ---------------------------------------------------------------
# step TEXT: announce a step; failures name the last step.
E2E_STEP=""
E2E_NSTEP=0
step() {
  E2E_NSTEP=$((E2E_NSTEP + 1))
  E2E_STEP="$*"
  printf '[%2d] %s\n' "$E2E_NSTEP" "$*"
}

e2e_cmdline() {
  local a s=""
  for a in "$@"; do s+="${s:+ }$(printf '%q' "$a")"; done
  printf '%s' "$s"
}

# run CMD...: run it; its stdout goes to $OUT, its stderr to $ERR. Fails with
# the command and its stderr when it exits non-zero.
OUT=""
ERR=""
run() {
  local rc=0
  "$@" >"$E2E_DIR/.out" 2>"$E2E_DIR/.err" || rc=$?
  OUT="$(<"$E2E_DIR/.out")"
  ERR="$(<"$E2E_DIR/.err")"
  [ "$rc" = 0 ] || fail "$E2E_STEP: \`$(e2e_cmdline "$@")\` exited $rc:
${ERR:-$OUT}"
}

# run_fails CMD...: like run, but the command must fail.
run_fails() {
  local rc=0
  "$@" >"$E2E_DIR/.out" 2>"$E2E_DIR/.err" || rc=$?
  OUT="$(<"$E2E_DIR/.out")"
  ERR="$(<"$E2E_DIR/.err")"
  [ "$rc" != 0 ] || fail "$E2E_STEP: \`$(e2e_cmdline "$@")\` succeeded but should have failed; it printed:
$OUT"
}

# expect_eq WHAT GOT WANT
expect_eq() {
  [ "$2" = "$3" ] || fail "$E2E_STEP: $1 is '$2', want '$3'"
}

# expect_line WHAT TEXT LINE: some line of TEXT is exactly LINE.
expect_line() {
  grep -qxF -- "$3" <<<"$2" || fail "$E2E_STEP: $1 has no line '$3'; got:
$2"
}

# expect_no_line WHAT TEXT LINE: no line of TEXT is exactly LINE.
expect_no_line() {
  ! grep -qxF -- "$3" <<<"$2" || fail "$E2E_STEP: $1 still has a line '$3'; got:
$2"
}

# expect_contains WHAT TEXT SUBSTRING
expect_contains() {
  [[ $2 == *"$3"* ]] || fail "$E2E_STEP: $1 does not contain '$3'; got:
$2"
}

# expect_nonempty WHAT VALUE
expect_nonempty() {
  [ -n "$2" ] || fail "$E2E_STEP: $1 is empty"
}

# jfield KEY [JSON]: a field of a JSON object ($OUT by default): strings as
# they are, other values as JSON (true, null, [...]). Missing keys fail.
jfield() {
  local json="${2-$OUT}"
  "$E2E_PY" -c '
import json, sys
d = json.loads(sys.stdin.read())
k = sys.argv[1]
if not isinstance(d, dict) or k not in d:
    sys.exit("no field %r in %s" % (k, json.dumps(d)[:500]))
v = d[k]
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
' "$1" <<<"$json" 2>"$E2E_DIR/.jerr" || fail "$E2E_STEP: $(<"$E2E_DIR/.jerr")"
}

# tempest_run NAME SERVICES EXTRA_CONF: run test/conformance/tempest.sh with
# $REGEX ($DEFAULT_REGEX unless set) against the running nimbus as admin, and
# compare its failures with $KNOWN (test/e2e/tempest_compare.py). Fails on a
# failure not listed there.
tempest_run() {
  local name="$1" services="$2" extra="$3" rc=0 full=0
  # Tempest gets the admin credentials from admin-openrc, not from clouds.yaml.
  unset OS_CLOUD OS_CLIENT_CONFIG_FILE
  # shellcheck disable=SC1091
  . "$NIMBUS_DATA/admin-openrc"
  # Debian's tempest and stestr, not a pyenv shim's.
  PATH="/usr/bin:$PATH" \
    TEMPEST_SERVICES="$services" \
    TEMPEST_REGEX="$REGEX" \
    TEMPEST_CONCURRENCY="${TEMPEST_CONCURRENCY:-2}" \
    TEMPEST_EXTRA_CONF="$extra" \
    TEMPEST_OUT="$TEMPEST_OUT" \
    "$E2E_ROOT/test/conformance/tempest.sh" "$OS_AUTH_URL" || rc=$?
  # tempest.sh exits 1 when a test failed, 2 when it could not run at all.
  if [ ! -f "$TEMPEST_OUT/summary.txt" ]; then
    fail "tempest.sh (exit $rc) wrote no $TEMPEST_OUT/summary.txt; see $TEMPEST_OUT"
  fi
  [ "$REGEX" = "$DEFAULT_REGEX" ] && full=1
  "$E2E_PY" "$E2E_ROOT/test/e2e/tempest_compare.py" "$TEMPEST_OUT/summary.txt" "$KNOWN" "$full" "$name" \
    || fail "new tempest failures (details: $TEMPEST_OUT/summary.txt)"
  echo "tempest-$name.sh: no new failures (results: $TEMPEST_OUT)"
}
