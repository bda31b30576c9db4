#!/usr/bin/env bash
# test/e2e/tempest-object-storage.sh - run Tempest's object storage tests
# (Debian's tempest) against a fresh `nimbus up` (identity and the object
# store with three local devices), and compare the failures with
# test/tempest/object-storage-known-failures.txt: fails when a test fails that
# is not listed there. test/tempest/object-storage.conf says what Nimbus offers.
#
# Environment (besides lib.sh's):
#   TEMPEST_CONCURRENCY     workers [2]
#   TEMPEST_REGEX           selection [^tempest\.api\.object_storage\.]
#   TEMPEST_OUT             results dir [$TMPDIR/tempest-object-storage-<UTC time>]
#   TEMPEST_KNOWN_FAILURES  the list [test/tempest/object-storage-known-failures.txt]
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

DEFAULT_REGEX='^tempest\.api\.object_storage\.'
REGEX="${TEMPEST_REGEX:-$DEFAULT_REGEX}"
KNOWN="${TEMPEST_KNOWN_FAILURES:-$E2E_ROOT/test/tempest/object-storage-known-failures.txt}"
TEMPEST_OUT="${TEMPEST_OUT:-${TMPDIR:-/tmp}/tempest-object-storage-$(date -u +%Y%m%dT%H%M%SZ)}"
[ -f "$KNOWN" ] || fail "known-failures list $KNOWN not found"

# Object expiry tests wait for the expirer: run it often.
export NIMBUS_OBJECTSTORE_EXPIRE_INTERVAL=1s

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start

tempest_run object-storage "keystone swift" "$E2E_ROOT/test/tempest/object-storage.conf"
