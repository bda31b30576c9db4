#!/usr/bin/env bash
# test/e2e/tempest-identity.sh - run Tempest's identity v3 API tests (Debian's
# tempest) against a fresh `nimbus up`, and compare the failures with
# test/tempest/identity-known-failures.txt: fails when a test fails that is not
# listed there; lists the listed tests that pass now, so the list shrinks.
#
# Environment (besides lib.sh's):
#   TEMPEST_CONCURRENCY     workers [2]
#   TEMPEST_REGEX           selection [^tempest\.api\.identity\.] (v2 tests skip: api_v2 = false)
#   TEMPEST_OUT             results dir [$TMPDIR/tempest-identity-<UTC time>]
#   TEMPEST_KNOWN_FAILURES  the list [test/tempest/identity-known-failures.txt]
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

DEFAULT_REGEX='^tempest\.api\.identity\.'
REGEX="${TEMPEST_REGEX:-$DEFAULT_REGEX}"
KNOWN="${TEMPEST_KNOWN_FAILURES:-$E2E_ROOT/test/tempest/identity-known-failures.txt}"
TEMPEST_OUT="${TEMPEST_OUT:-${TMPDIR:-/tmp}/tempest-identity-$(date -u +%Y%m%dT%H%M%SZ)}"
[ -f "$KNOWN" ] || fail "known-failures list $KNOWN not found"

# test/tempest/identity.conf turns on tempest's security_compliance tests, which
# expect the cloud to lock a user out after 2 failed logins for 5 s and to
# refuse the last 2 passwords (tempest's [identity] user_lockout_* and
# user_unique_last_password_count defaults); so nimbus is set up like that, as
# devstack sets up keystone.conf [security_compliance] for tempest.
export NIMBUS_IDENTITY_LOCKOUT_FAILURE_ATTEMPTS="${NIMBUS_IDENTITY_LOCKOUT_FAILURE_ATTEMPTS:-2}"
export NIMBUS_IDENTITY_LOCKOUT_DURATION="${NIMBUS_IDENTITY_LOCKOUT_DURATION:-5s}"
export NIMBUS_IDENTITY_UNIQUE_LAST_PASSWORD_COUNT="${NIMBUS_IDENTITY_UNIQUE_LAST_PASSWORD_COUNT:-2}"

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start

tempest_run identity keystone "$E2E_ROOT/test/tempest/identity.conf"
