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

tempest_run image "keystone glance" "$EXTRA_CONF"
