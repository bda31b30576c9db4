#!/usr/bin/env python3
"""tempest_compare.py SUMMARY KNOWN FULL NAME - compare a tempest run's
summary.txt (test/conformance/lib/subunit_summary.py) with a known-failures
list: exit 1 when a test failed that is not listed; report listed tests that
pass now, so the list shrinks. FULL=1 when the whole selection ran, so that
listed tests missing from it are reported too."""
import re
import sys

summary_path, known_path, full, name = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
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
print(f"\ntempest {name}: {counts['passed']} passed, {counts['failed']} failed "
      f"({len(still)} known, {len(new)} new), {counts['skipped']} skipped; "
      f"{len(fixed)} known failures now pass")
sys.exit(1 if new else 0)
