#!/usr/bin/env bash
# test/e2e/compute.sh - drive Debian's `openstack` CLI through what the
# Compute API (Nova v2.1) serves so far: flavors (defaults, create, extra
# specs, private access), keypairs (import, generate, list, delete), limits,
# quotas and availability zones. Servers come with the scheduler, conductor
# and agents. Stops at the first unexpected result.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

F="$E2E_DIR/files"
mkdir -p "$F"
# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start

step "catalog show compute"
run osc catalog show compute -f json
expect_contains "endpoints" "$(jfield endpoints)" "127.0.0.1:$NIMBUS_COMPUTE_PORT/v2.1"

step "flavor list (devstack's defaults)"
run osc flavor list -f value -c Name -c RAM -c VCPUs
expect_line "flavors" "$OUT" "m1.nano 64 1"
expect_line "flavors" "$OUT" "m1.small 2048 1"

step "flavor create with properties / show"
run osc flavor create --ram 512 --vcpus 2 --disk 5 --property hw:cpu_policy=shared --description e2e e2e.small -f json
FLAVOR="$(jfield id)"
run osc --os-compute-api-version 2.61 flavor show e2e.small -f json
expect_eq "ram" "$(jfield ram)" 512
expect_contains "properties" "$(jfield properties)" "hw:cpu_policy"

step "private flavor with project access"
run osc flavor create --ram 256 --vcpus 1 --disk 1 --private e2e.private -f json
PRIV="$(jfield id)"
run osc project create --domain Default e2e-compute -f value -c id
run osc flavor set --project e2e-compute e2e.private
run osc flavor show e2e.private -f json
expect_eq "is public" "$(jfield os-flavor-access:is_public)" false

step "keypair create (import) / list / show / delete"
ssh-keygen -q -t ed25519 -N '' -f "$F/key" >/dev/null
run osc keypair create --public-key "$F/key.pub" e2e-key -f json
FP="$(jfield fingerprint)"
expect_eq "fingerprint" "$FP" "$(ssh-keygen -l -E md5 -f "$F/key.pub" | awk '{print $2}' | sed 's/^MD5://')"
run osc keypair list -f value -c Name
expect_line "keypairs" "$OUT" "e2e-key"
run osc keypair show e2e-key -f value -c type
expect_eq "type" "$OUT" ssh
run osc --os-compute-api-version 2.91 keypair create e2e-generated
expect_contains "private key" "$OUT" "PRIVATE KEY"
run osc keypair delete e2e-key e2e-generated
run osc keypair list -f value -c Name
expect_no_line "keypairs" "$OUT" "e2e-key"

step "limits / quotas / availability zones"
run osc limits show --absolute -f value -c Name -c Value
expect_line "limits" "$OUT" "maxTotalInstances 10"
run osc quota set --instances 20 e2e-compute
run osc quota show e2e-compute -f json
expect_contains "quota" "$OUT" '"instances": 20'
run osc availability zone list --compute -f value -c "Zone Name"
expect_line "zones" "$OUT" "nova"

step "flavor delete"
run osc flavor delete "$FLAVOR" "$PRIV"
run_fails osc flavor show e2e.small
expect_contains "not found" "$ERR" "No Flavor found"

log "compute.sh: all $E2E_NSTEP steps passed"
