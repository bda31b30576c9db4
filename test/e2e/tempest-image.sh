#!/usr/bin/env bash
# test/e2e/tempest-image.sh - run Tempest's image API tests (Debian's tempest)
# against a fresh `nimbus up` (identity and image), and compare the failures
# with test/tempest/image-known-failures.txt: fails when a test fails that is
# not listed there; lists the listed tests that pass now, so the list shrinks.
# test/tempest/image.conf says which Glance features Nimbus offers.
#
# Environment (besides lib.sh's):
#   TEMPEST_CONCURRENCY     workers [2]
#   TEMPEST_REGEX           selection [^tempest\.api\.image\.] (v1 tests skip: api_v1 = false)
#   TEMPEST_OUT             results dir [$TMPDIR/tempest-image-<UTC time>]
#   TEMPEST_KNOWN_FAILURES  the list [test/tempest/image-known-failures.txt]
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

DEFAULT_REGEX='^tempest\.api\.image\.'
REGEX="${TEMPEST_REGEX:-$DEFAULT_REGEX}"
KNOWN="${TEMPEST_KNOWN_FAILURES:-$E2E_ROOT/test/tempest/image-known-failures.txt}"
TEMPEST_OUT="${TEMPEST_OUT:-${TMPDIR:-/tmp}/tempest-image-$(date -u +%Y%m%dT%H%M%SZ)}"
[ -f "$KNOWN" ] || fail "known-failures list $KNOWN not found"

# web-download imports fetch test/e2e's own image from a local web server,
# the only host nimbus is allowed to download from here.
WEB_DIR="$E2E_DIR/web"
mkdir -p "$WEB_DIR"
head -c 1048576 /dev/urandom >"$WEB_DIR/web-image.raw"
WEB_PORT="$(e2e_free_ports 1)"
/usr/bin/python3 -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory "$WEB_DIR" >"$E2E_DIR/web.log" 2>&1 &
WEB_PID=$!
e2e_on_exit "kill $WEB_PID 2>/dev/null"
# does-not.exist is tempest's bad URL: allowed, so that its import is
# accepted and then fails (it never resolves), as the test expects.
export NIMBUS_IMAGE_WEB_DOWNLOAD_ALLOWED_HOSTS=127.0.0.1,does-not.exist
EXTRA_CONF="$E2E_DIR/tempest-image.conf"
{
  cat "$E2E_ROOT/test/tempest/image.conf"
  printf '\n[image]\nhttp_image = http://127.0.0.1:%s/web-image.raw\n' "$WEB_PORT"
} >"$EXTRA_CONF"

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start

# Tempest gets the admin credentials from admin-openrc, not from clouds.yaml.
unset OS_CLOUD OS_CLIENT_CONFIG_FILE
# shellcheck disable=SC1091
. "$NIMBUS_DATA/admin-openrc"

# Debian's tempest and stestr, not a pyenv shim's.
rc=0
PATH="/usr/bin:$PATH" \
  TEMPEST_SERVICES="keystone glance" \
  TEMPEST_REGEX="$REGEX" \
  TEMPEST_CONCURRENCY="${TEMPEST_CONCURRENCY:-2}" \
  TEMPEST_EXTRA_CONF="$EXTRA_CONF" \
  TEMPEST_OUT="$TEMPEST_OUT" \
  "$E2E_ROOT/test/conformance/tempest.sh" "$OS_AUTH_URL" || rc=$?

# tempest.sh exits 1 when a test failed, 2 when it could not run at all.
if [ ! -f "$TEMPEST_OUT/summary.txt" ]; then
  fail "tempest.sh (exit $rc) wrote no $TEMPEST_OUT/summary.txt; see $TEMPEST_OUT"
fi

full=0
[ "$REGEX" = "$DEFAULT_REGEX" ] && full=1
"$E2E_PY" - "$TEMPEST_OUT/summary.txt" "$KNOWN" "$full" <<'EOF' || fail "new tempest failures (details: $TEMPEST_OUT/summary.txt)"
import re
import sys

summary_path, known_path, full = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
base = lambda tid: tid.split("[", 1)[0].strip()

# summary.txt: "kind<TAB>status<TAB>id" rows up to the first blank line, then
# extra results, then "# failure details" with "===== id" sections.
rows, details = {}, {}
text = open(summary_path).read()
head, _, tail = text.partition("\n\n")
for line in head.splitlines():
    kind, status, tid = line.split("\t", 2)
    rows[base(tid)] = (kind, status)
cur = None
for line in tail.splitlines():
    m = re.match(r"===== (.+)$", line)
    if m:
        cur = details.setdefault(base(m.group(1)), [])
    elif re.match(r"\d+ passed, \d+ failed, \d+ skipped$", line):
        cur = None  # the closing count line
    elif cur is not None and line.strip():
        cur.append(line.rstrip())

known = {}
for n, line in enumerate(open(known_path), 1):
    tid, _, reason = line.partition("#")
    tid = base(tid)
    if tid:
        known[tid] = reason.strip()

def why(tid, status):
    """The exception of a failure's last traceback (or of its class
    fixture's), on one line."""
    lines = details.get(tid)
    if not lines and status == "class-fixture-failed":
        cls = tid.rsplit(".", 1)[0]
        lines = details.get(f"setUpClass ({cls})")
    if not lines:
        return "(no details)"
    tb = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last)")]
    if not tb:
        return lines[-1].strip()[:400]
    exc = [ln.strip() for ln in lines[tb[-1] + 1:] if not ln.startswith(" ")]
    exc = [ln for ln in exc if not ln.startswith("--- ")][:4]
    return " | ".join(exc)[:400] or lines[-1].strip()[:400]

failed = {t: s for t, (k, s) in rows.items() if k == "failed"}
new = sorted(t for t in failed if t not in known)
still = sorted(t for t in failed if t in known)
fixed = sorted(t for t in known if rows.get(t, ("",))[0] == "passed")
skipped = sorted(t for t in known if rows.get(t, ("",))[0] == "skipped")
absent = sorted(t for t in known if t not in rows)
counts = {k: sum(1 for kk, _ in rows.values() if kk == k) for k in ("passed", "failed", "skipped")}

if fixed:
    print(f"\n{len(fixed)} listed as known failures but PASS now; remove them from {known_path}:")
    for t in fixed:
        print(f"  {t}")
if skipped:
    print(f"\n{len(skipped)} listed as known failures were skipped:")
    for t in skipped:
        print(f"  {t}")
if absent and full:
    print(f"\n{len(absent)} listed as known failures are not in this tempest's selection (renamed or removed?):")
    for t in absent:
        print(f"  {t}")
if new:
    print(f"\n{len(new)} NEW FAILURES (not in {known_path}):")
    for t in new:
        print(f"  {t}  [{failed[t]}]\n      {why(t, failed[t])}")
print(f"\ntempest image: {counts['passed']} passed, {counts['failed']} failed "
      f"({len(still)} known, {len(new)} new), {counts['skipped']} skipped; "
      f"{len(fixed)} known failures now pass")
sys.exit(1 if new else 0)
EOF
echo "tempest-image.sh: no new failures (results: $TEMPEST_OUT)"
