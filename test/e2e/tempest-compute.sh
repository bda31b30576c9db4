#!/usr/bin/env bash
# test/e2e/tempest-compute.sh - run Tempest's compute API tests (Debian's
# tempest) against a fresh `nimbus up` running the fake hypervisor driver
# (no guest boots; servers still go through the API, scheduler, placement,
# conductor and an agent), with identity, image and object storage but no
# network or volume service. Compares the failures with
# test/tempest/compute-known-failures.txt: fails when a test fails that is
# not listed there; lists the listed tests that pass now, so the list
# shrinks. test/tempest/compute.conf says which Nova features Nimbus offers.
#
# Before the run it registers what tempest boots from: two small qcow2
# images (image_ref, image_ref_alt for rebuilds) and two flavors
# (flavor_ref, and a bigger flavor_ref_alt for resizes).
#
# After the run (also when it fails) the failures, grouped by their cause
# (the exception and the last API request before it), go to
# $TEMPEST_FAILURES_REPORT, with the share of applicable tests that pass:
# the issue asks for >= 80% of those that run and are not skipped.
#
# Environment (besides lib.sh's):
#   TEMPEST_CONCURRENCY     workers [4]: most of a compute test is waiting
#   TEMPEST_REGEX           selection [^tempest\.api\.compute\.]
#   TEMPEST_OUT             results dir [$TMPDIR/tempest-compute-<UTC time>]
#   TEMPEST_KNOWN_FAILURES  the list [test/tempest/compute-known-failures.txt]
#   TEMPEST_FAILURES_REPORT grouped failures [/tmp/tempest-compute-failures.txt]
#   NIMBUS_COMPUTE_FAKE_HOSTS  fake compute hosts [1]
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

DEFAULT_REGEX='^tempest\.api\.compute\.'
REGEX="${TEMPEST_REGEX:-$DEFAULT_REGEX}"
KNOWN="${TEMPEST_KNOWN_FAILURES:-$E2E_ROOT/test/tempest/compute-known-failures.txt}"
TEMPEST_OUT="${TEMPEST_OUT:-${TMPDIR:-/tmp}/tempest-compute-$(date -u +%Y%m%dT%H%M%SZ)}"
REPORT="${TEMPEST_FAILURES_REPORT:-/tmp/tempest-compute-failures.txt}"
export TEMPEST_CONCURRENCY="${TEMPEST_CONCURRENCY:-4}"
[ -f "$KNOWN" ] || fail "known-failures list $KNOWN not found"
command -v qemu-img >/dev/null || fail "qemu-img not found (Debian package qemu-utils)"

# Not applicable without a network service: Nova's proxies of the network
# API (security groups, floating IPs, os-networks, os-tenant-networks) and
# nova-network's removed APIs (fixed IPs, floating IP bulk), which tempest
# still runs when neutron is off (its get_service_list() always says
# 'network': True). They are left out of the run and counted apart in the
# report; they come back when the network service exists.
NETWORK_ONLY='^tempest\.api\.compute\.(security_groups|floating_ips|test_networks|test_tenant_networks)\.'
NETWORK_ONLY+='|^tempest\.api\.compute\.admin\.(test_fixed_ips|test_fixed_ips_negative|test_networks|test_security_groups|test_floating_ips_bulk)\.'
NETWORK_ONLY+='|\.QuotasSecurityGroupAdminNegativeTest\.'
NETWORK_ONLY+='|\.(test_remove_server_all_security_groups|test_rescued_vm_add_remove_security_group|test_rescued_vm_associate_dissociate_floating_ip)\b'
# ... and a server's addresses, which are empty without a network.
NETWORK_ONLY+='|\.ServerAddressesTestJSON\.test_list_server_addresses\b'
export TEMPEST_EXCLUDE_REGEX="${TEMPEST_EXCLUDE_REGEX:-$NETWORK_ONLY}"

# Tests that move the (only) compute host into an availability zone and
# out again run alone, after the others: a server another worker creates
# meanwhile lands on that host, and then Nova, as Nimbus, refuses the move
# ("Host aggregate is not empty", "... contain instances in this zone").
ALONE='^tempest\.api\.compute\.admin\.test_aggregates\.AggregatesAdminTestJSON\.test_aggregate_add_host_create_server_with_az\b'

# The fake driver: servers become ACTIVE without a guest.
export NIMBUS_COMPUTE_DRIVER=fake
export NIMBUS_COMPUTE_FAKE_HOSTS="${NIMBUS_COMPUTE_FAKE_HOSTS:-1}"

# report_failures: write $REPORT from the run's summary.txt, grouped by
# cause, whether or not the run had new failures.
report_failures() {
  [ -f "$TEMPEST_OUT/summary.txt" ] || return 0
  "$E2E_PY" - "$TEMPEST_OUT/summary.txt" "$KNOWN" "$REPORT" "$TEMPEST_OUT" "${NIMBUS_LOG:-}" "$REGEX" "$TEMPEST_EXCLUDE_REGEX" <<'PY' || true
import collections, re, sys
summary, known_path, report, out_dir, nimbus_log, regex, exclude = sys.argv[1:8]
base = lambda t: t.split("[", 1)[0].strip()
text = open(summary).read()
head, _, tail = text.partition("\n\n")
rows = {}
for line in head.splitlines():
    kind, status, tid = line.split("\t", 2)
    rows[tid] = (kind, status)
details, cur = {}, None
for line in tail.splitlines():
    m = re.match(r"===== (.+)$", line)
    if m:
        cur = details.setdefault(m.group(1).strip(), [])
    elif re.match(r"\d+ passed, \d+ failed, \d+ skipped$", line):
        cur = None
    elif cur is not None:
        cur.append(line.rstrip())
known = {}
for line in open(known_path):
    tid, _, reason = line.partition("#")
    if base(tid):
        known[base(tid)] = reason.strip()

# The server's side of a 500: nimbus logs "internal error ... err=...
# request_id=..." (after a "panic" line with its stack for a panic).
internal = {}
if nimbus_log:
    try:
        last_panic = ""
        for line in open(nimbus_log, errors="replace"):
            if "level=ERROR" not in line:
                continue
            if " msg=panic " in line:
                pv = re.search(r"panic=(\"(?:[^\"\\]|\\.)*\"|\S+)", line)
                frames = re.findall(r"\\n(github\.com/nimbus-cloud/nimbus/internal/(?:[^\\(]|\(\*\w+\))+)\([^\\]*\)\\n\\t(\S+?:\d+)", line)
                frames = [f for f in frames if "/httpx." not in f[0]]
                where = "%s (%s)" % (frames[0][0].rsplit("/", 1)[-1], frames[0][1].split("/internal/", 1)[-1]) if frames else "?"
                last_panic = "panic %s in %s" % (pv.group(1) if pv else "?", where)
                continue
            rid = re.search(r"request_id=(req-[0-9a-f-]+)", line)
            err = re.search(r"err=(\"(?:[^\"\\]|\\.)*\"|\S+)", line)
            if rid and err:
                e = err.group(1)
                if e == "panic" and last_panic:
                    e, last_panic = last_panic, ""
                internal[rid.group(1)] = e[:300]
    except OSError:
        pass

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", re.I)


def norm(s):
    s = UUID.sub("{id}", s)
    s = re.sub(r"https?://[^/\s]+", "", s)
    s = re.sub(r"tempest-[\w-]+", "tempest-*", s)
    s = re.sub(r"req-\{id\}", "req-*", s)
    s = re.sub(r"\d{4}-\d\d-\d\dT[\d:.%A-F]+", "{time}", s)
    s = re.sub(r"\b\d{5,}\b", "N", s)
    return s


def cause(lines):
    """(exception, what was called, the server's error) of a failure."""
    body = "\n".join(lines)
    tb = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last)")]
    exc, call = "", ""
    if tb:
        rest = [ln.strip() for ln in lines[tb[-1] + 1:] if ln and not ln.startswith(" ")]
        rest = [ln for ln in rest if not ln.startswith("--- ")]
        exc = " | ".join(rest[:3])
        # The last tempest service client method in the traceback.
        for ln in lines[tb[-1]:]:
            m = re.search(r"tempest/lib/services/(\w+)/(\w+)\.py\", line \d+, in (\w+)", ln)
            if m and m.group(3) not in ("request", "post", "get", "put", "delete", "patch", "head"):
                call = f"{m.group(2)}.{m.group(3)}"
    reqs = re.findall(r"Request \([^)]*\): (\d{3}) (\w+) (\S+)", body)
    if reqs:
        st, meth, url = reqs[-1]
        call = f"{st} {meth} {re.sub(r'https?://[^/]+', '', url)}"
    server = ""
    for rid in reversed(re.findall(r"'x-openstack-request-id': '(req-[0-9a-f-]+)'", body)):
        if rid in internal:
            server = internal[rid]
            break
    return norm(exc)[:300] or "(no traceback)", norm(call), norm(server)


def details_of(tid, status):
    d = details.get(tid)
    if not d and status == "class-fixture-failed":
        cls = base(tid).rsplit(".", 1)[0]
        d = details.get(f"setUpClass ({cls})")
    return d or []


failed = [t for t, (k, _) in rows.items() if k == "failed"]
n = collections.Counter(k for k, _ in rows.values())
applies = n["passed"] + n["failed"]
pct = 100.0 * n["passed"] / applies if applies else 0.0
groups = collections.defaultdict(list)
for t in failed:
    groups[cause(details_of(t, rows[t][1]))].append(t)
with open(report, "w") as f:
    f.write(f"tempest compute (^tempest.api.compute.): {len(rows)} selected, "
            f"{n['skipped']} skipped, {applies} apply: {n['passed']} passed, "
            f"{n['failed']} failed = {pct:.1f}% pass (target >= 80%)\n")
    try:
        everything = [t.strip() for t in open(f"{out_dir}/all-tests.txt") if re.search(regex, t)]
        left_out = [t for t in everything if exclude and re.search(exclude, t)]
        f.write(f"left out as needing a network service (TEMPEST_EXCLUDE_REGEX): {len(left_out)} of "
                f"the {len(everything)} tests of {regex}\n")
    except OSError:
        pass
    f.write(f"full results: {out_dir}/summary.txt (tracebacks), {out_dir}/tempest.log\n")
    f.write(f"{sum(1 for t in failed if base(t) in known)} of the failures are in {known_path}\n\n")
    f.write(f"{len(groups)} causes, biggest first; each: the exception, the last request "
            f"(or client call) before it, and for a 500 nimbus's logged error\n")
    for (exc, call, server), tests in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        f.write(f"\n== {len(tests)} test(s): {exc}\n   last call: {call or '-'}\n")
        if server:
            f.write(f"   nimbus: {server}\n")
        for t in sorted(tests):
            mark = "  (known)" if base(t) in known else ""
            f.write(f"   {base(t)}  [{rows[t][1]}]{mark}\n")
print(f"tempest compute: {n['passed']} passed of {applies} that apply ({pct:.1f}%, target 80%), "
      f"{n['skipped']} skipped; failures by cause in {report}")
PY
}
e2e_on_exit report_failures

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start

step "images and flavors for tempest"
IMG="$E2E_DIR/tempest.qcow2"
qemu-img create -q -f qcow2 "$IMG" 64M || fail "qemu-img create failed"
run osc image create --disk-format qcow2 --container-format bare --public --file "$IMG" tempest-image -f value -c id
export TEMPEST_IMAGE_REF="$OUT"
run osc image create --disk-format qcow2 --container-format bare --public --file "$IMG" tempest-image-alt -f value -c id
export TEMPEST_IMAGE_REF_ALT="$OUT"
run osc flavor create --ram 64 --vcpus 1 --disk 1 tempest.nano -f value -c id
export TEMPEST_FLAVOR_REF="$OUT"
run osc flavor create --ram 128 --vcpus 1 --disk 2 tempest.micro -f value -c id
export TEMPEST_FLAVOR_REF_ALT="$OUT"
export TEMPEST_DISCOVER=0

step "tempest ($REGEX, $TEMPEST_CONCURRENCY workers)"
TEMPEST_EXCLUDE_REGEX="$TEMPEST_EXCLUDE_REGEX|$ALONE" \
  tempest_run compute "keystone glance nova swift" "$E2E_ROOT/test/tempest/compute.conf"

if [ "$REGEX" = "$DEFAULT_REGEX" ]; then
  step "tempest, one worker: the tests that move the compute host between zones"
  TEMPEST_OUT="$TEMPEST_OUT/alone" REGEX="$ALONE" TEMPEST_CONCURRENCY=1 \
    tempest_run compute "keystone glance nova swift" "$E2E_ROOT/test/tempest/compute.conf"
  # One summary of both runs, for the report.
  "$E2E_PY" - "$TEMPEST_OUT/summary.txt" "$TEMPEST_OUT/alone/summary.txt" <<'PY'
import sys
main, alone = sys.argv[1:3]
h1, _, t1 = open(main).read().partition("\n\n")
h2, _, t2 = open(alone).read().partition("\n\n")
open(main, "w").write(h1.rstrip("\n") + "\n" + h2.rstrip("\n") + "\n\n" + t1.rstrip("\n") + "\n" + t2)
PY
fi
