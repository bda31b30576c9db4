#!/usr/bin/env bash
# test/e2e/objectstore.sh - drive Debian's object storage clients through the
# Swift API (and S3) of a fresh `nimbus up` (three local devices, three
# replicas), checking every answer: the `swift` CLI (python3-swiftclient:
# stat, post, upload, list, download, delete, large objects with
# --segment-size as SLO and DLO), `openstack container/object`, and `aws s3` /
# `aws s3api` (awscli) with EC2 credentials made in identity (mb, cp both
# ways, ls, multipart, rm, rb); another project's account is out of reach.
# Stops at the first unexpected result. Environment: see lib.sh.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

F="$E2E_DIR/files"
mkdir -p "$F"

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start
PROXY="http://127.0.0.1:$NIMBUS_OBJECTSTORE_PROXY_PORT"
REGION="$(openrc_get OS_REGION_NAME)"
REGION="${REGION:-RegionOne}"

# sw ARGS...: Debian's swift CLI as the admin of admin-openrc (Keystone v3).
sw() {
  (
    # shellcheck disable=SC1091
    . "$NIMBUS_DATA/admin-openrc"
    timeout "${E2E_CLI_TIMEOUT:-120}" /usr/bin/swift --auth-version 3 "$@"
  )
}

# sw_as USER PASSWORD PROJECT ARGS...: the swift CLI as another user.
sw_as() {
  local u="$1" p="$2" proj="$3"
  shift 3
  timeout "${E2E_CLI_TIMEOUT:-120}" /usr/bin/swift --auth-version 3 --os-auth-url "$NIMBUS_AUTH_URL" \
    --os-username "$u" --os-password "$p" --os-project-name "$proj" \
    --os-user-domain-name Default --os-project-domain-name Default --os-region-name "$REGION" "$@"
}

md5() { md5sum "$1" | cut -d' ' -f1; }

# --- catalog and account ---------------------------------------------------------
step "catalog show object-store"
run osc catalog show object-store -f json
expect_eq "type" "$(jfield type)" object-store
expect_contains "endpoints" "$(jfield endpoints)" "127.0.0.1:$NIMBUS_OBJECTSTORE_PROXY_PORT/v1/AUTH_"

step "GET /info (no token)"
run curl -sf "$PROXY/info"
expect_contains "/info" "$OUT" '"max_file_size"'
expect_contains "/info" "$OUT" '"slo"'

step "swift stat (a new account)"
run sw stat
expect_contains "account" "$OUT" "Account: AUTH_"
expect_contains "containers" "$OUT" "Containers: 0"

# --- containers and objects with the swift CLI ----------------------------------
step "swift post (create container with metadata)"
run sw post -m color:blue e2e
run sw stat e2e
expect_contains "container stat" "$OUT" "Meta Color: blue"

step "swift upload / list / download"
head -c 100000 /dev/urandom >"$F/small.bin"
printf 'hello nimbus\n' >"$F/hello.txt"
mkdir -p "$F/dir/sub"
printf 'one\n' >"$F/dir/a.txt"
printf 'two\n' >"$F/dir/sub/b.txt"
(cd "$F" && run sw upload e2e small.bin hello.txt dir)
run sw list e2e
expect_line "listing" "$OUT" "small.bin"
expect_line "listing" "$OUT" "hello.txt"
expect_line "listing" "$OUT" "dir/a.txt"
expect_line "listing" "$OUT" "dir/sub/b.txt"
run sw list e2e --prefix dir/ --delimiter /
expect_line "delimited listing" "$OUT" "dir/a.txt"
expect_line "delimited listing" "$OUT" "dir/sub/"
run sw download e2e small.bin -o "$F/small.back"
expect_eq "md5 after download" "$(md5 "$F/small.back")" "$(md5 "$F/small.bin")"

step "swift stat object / post object metadata"
run sw post -m owner:e2e e2e hello.txt
run sw stat e2e hello.txt
expect_contains "object stat" "$OUT" "Meta Owner: e2e"
expect_contains "object stat" "$OUT" "Content Length: 13"
expect_contains "object stat" "$OUT" "ETag: $(md5 "$F/hello.txt")"

step "swift stat account (counts)"
run sw stat
expect_contains "account" "$OUT" "Containers: 1"

# --- large objects ---------------------------------------------------------------
step "swift upload --segment-size (SLO)"
head -c $((5 * 1024 * 1024 + 321)) /dev/urandom >"$F/big.bin"
(cd "$F" && run sw upload --use-slo --segment-size 1048576 e2e big.bin)
run sw stat e2e big.bin
expect_contains "SLO stat" "$OUT" "Content Length: $((5 * 1024 * 1024 + 321))"
expect_contains "SLO manifest" "$OUT" "Static-Large-Object: True"
run sw download e2e big.bin -o "$F/big.back"
expect_eq "SLO md5" "$(md5 "$F/big.back")" "$(md5 "$F/big.bin")"
run sw list e2e_segments
expect_nonempty "segments" "$OUT"

step "swift upload --segment-size (DLO, swiftclient's default)"
cp "$F/big.bin" "$F/dlo.bin"
(cd "$F" && run sw upload --segment-size 2097152 e2e dlo.bin)
run sw stat e2e dlo.bin
expect_contains "DLO manifest" "$OUT" "Manifest: e2e_segments/dlo.bin/"
run sw download e2e dlo.bin -o "$F/dlo.back"
expect_eq "DLO md5" "$(md5 "$F/dlo.back")" "$(md5 "$F/big.bin")"

step "swift delete (large object with its segments)"
run sw delete e2e big.bin
run sw list e2e
expect_no_line "listing" "$OUT" "big.bin"

# --- openstack container/object ---------------------------------------------------
step "openstack container create / list / show"
run osc container create e2e-osc -f json
run osc container list -f value -c Name
expect_line "containers" "$OUT" "e2e-osc"
run osc container show e2e-osc -f json
expect_eq "object count" "$(jfield object_count)" 0

step "openstack object create / list / show / save"
(cd "$F" && run osc object create e2e-osc hello.txt -f json)
run osc object list e2e-osc -f value -c Name
expect_eq "objects" "$OUT" "hello.txt"
run osc object show e2e-osc hello.txt -f json
expect_eq "etag" "$(jfield etag)" "$(md5 "$F/hello.txt")"
run osc object save --file "$F/hello.back" e2e-osc hello.txt
expect_eq "saved" "$(cat "$F/hello.back")" "hello nimbus"

step "openstack object set / container set"
run osc object set --property kind=greeting e2e-osc hello.txt
run osc object show e2e-osc hello.txt -f json
expect_contains "properties" "$(jfield properties)" "greeting"
run osc container set --property tier=gold e2e-osc
run osc container show e2e-osc -f json
expect_contains "properties" "$(jfield properties)" "gold"

step "openstack object delete / container delete"
run_fails osc container delete e2e-osc
run osc object delete e2e-osc hello.txt
run osc container delete e2e-osc
run osc container list -f value -c Name
expect_no_line "containers" "$OUT" "e2e-osc"

# --- another project ----------------------------------------------------------------
step "another project cannot read this account"
run osc project create --domain Default e2e-other -f value -c id
run osc user create --domain Default --project e2e-other --password other-pw e2e-other -f value -c id
run osc role add --user e2e-other --project e2e-other member
ADMIN_ACCOUNT="$(sw stat | awk '/Account:/ {print $2}')"
run sw_as e2e-other other-pw e2e-other stat
expect_contains "own account" "$OUT" "Containers: 0"
run_fails sw_as e2e-other other-pw e2e-other --os-storage-url "$PROXY/v1/$ADMIN_ACCOUNT" list e2e
expect_contains "refused" "$ERR$OUT" "403"

step "an ACL lets it read"
run sw post -r 'e2e-other:*' e2e
run sw_as e2e-other other-pw e2e-other --os-storage-url "$PROXY/v1/$ADMIN_ACCOUNT" download e2e hello.txt -o "$F/acl.back"
expect_eq "read through the ACL" "$(cat "$F/acl.back")" "hello nimbus"

# --- S3 ---------------------------------------------------------------------------------
step "openstack ec2 credentials create"
run osc ec2 credentials create -f json
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
AWS_ACCESS_KEY_ID="$(jfield access)"
AWS_SECRET_ACCESS_KEY="$(jfield secret)"
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
awsc() { timeout "${E2E_CLI_TIMEOUT:-120}" /usr/bin/aws --endpoint-url "$PROXY" "$@"; }

step "aws s3 mb / ls"
run awsc s3 mb s3://e2e-bucket
run awsc s3 ls
expect_contains "buckets" "$OUT" "e2e-bucket"
expect_contains "swift containers are buckets" "$OUT" " e2e"

step "aws s3 cp up and down"
run awsc s3 cp "$F/small.bin" s3://e2e-bucket/dir/small.bin
run awsc s3 ls s3://e2e-bucket/dir/
expect_contains "listing" "$OUT" "small.bin"
run awsc s3 cp s3://e2e-bucket/dir/small.bin "$F/s3.back"
expect_eq "md5 through S3" "$(md5 "$F/s3.back")" "$(md5 "$F/small.bin")"
run sw download e2e-bucket dir/small.bin -o "$F/s3-swift.back"
expect_eq "the same object through Swift" "$(md5 "$F/s3-swift.back")" "$(md5 "$F/small.bin")"

step "aws s3 cp multipart (20 MiB, 8 MiB parts)"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$F/multi.bin"
run awsc s3 cp "$F/multi.bin" s3://e2e-bucket/multi.bin
run awsc s3api head-object --bucket e2e-bucket --key multi.bin
expect_contains "multipart etag" "$OUT" '-3'
run awsc s3 cp s3://e2e-bucket/multi.bin "$F/multi.back"
expect_eq "multipart md5" "$(md5 "$F/multi.back")" "$(md5 "$F/multi.bin")"

step "aws s3api list-objects-v2 / copy-object / get-object range"
run awsc s3api list-objects-v2 --bucket e2e-bucket --prefix dir/
expect_contains "v2 listing" "$OUT" '"Key": "dir/small.bin"'
run awsc s3api copy-object --bucket e2e-bucket --key copy.bin --copy-source e2e-bucket/dir/small.bin
run awsc s3api get-object --bucket e2e-bucket --key copy.bin --range bytes=0-9 "$F/range.back"
expect_eq "range size" "$(stat -c %s "$F/range.back")" 10

step "aws s3 with a wrong secret is refused"
run_fails env AWS_SECRET_ACCESS_KEY=wrong /usr/bin/aws --endpoint-url "$PROXY" s3 ls s3://e2e-bucket
expect_contains "error" "$ERR" "SignatureDoesNotMatch"

step "aws s3 rm / rb"
run_fails awsc s3 rb s3://e2e-bucket
run awsc s3 rm --recursive s3://e2e-bucket
run awsc s3 rb s3://e2e-bucket
run awsc s3 ls
expect_no_line "buckets" "$OUT" "e2e-bucket"

# --- the data is replicated -------------------------------------------------------------
step "three copies on three devices"
n=$(find "$NIMBUS_DATA/objects" -path '*/objects/*' -name '*.data' | wc -l)
[ "$n" -ge 3 ] || fail "$E2E_STEP: only $n .data files under $NIMBUS_DATA/objects"
for d in d1 d2 d3; do
  c=$(find "$NIMBUS_DATA/objects/$d/objects" -name '*.data' 2>/dev/null | wc -l)
  [ "$c" -gt 0 ] || fail "$E2E_STEP: device $d holds no object"
done

# --- split: ring by hand, three storage processes, a proxy process ------------------
step "nimbus ring: create, add three devices, rebalance, validate"
SPLIT="$E2E_DIR/split"
mkdir -p "$SPLIT"
read -r -a SP <<<"$(e2e_free_ports 4)"
RING="$SPLIT/rings/object.ring"
mkdir -p "$SPLIT/rings"
run "$NIMBUS_BIN" ring --ring "$RING" create --part-power 8 --replicas 3 --min-part-hours 1
for i in 1 2 3; do
  run "$NIMBUS_BIN" ring --ring "$RING" add --region 1 --zone "$i" --ip 127.0.0.1 --port "${SP[i - 1]}" --device "d$i" --weight 100
done
run "$NIMBUS_BIN" ring --ring "$RING" rebalance
run "$NIMBUS_BIN" ring --ring "$RING" validate
run "$NIMBUS_BIN" ring --ring "$RING" show
expect_contains "ring show" "$OUT" "d3"

# split_start NAME ARGS...: a `nimbus serve` process; waits for its ready line.
declare -A SPLIT_PID
split_start() {
  local name="$1" i
  shift
  env NIMBUS_OBJECTSTORE_RING="$RING" NIMBUS_OBJECTSTORE_REPLICATE_INTERVAL=1s NIMBUS_OBJECTSTORE_UPDATE_INTERVAL=1s \
    "$@" >>"$SPLIT/$name.log" 2>&1 </dev/null &
  SPLIT_PID[$name]=$!
  e2e_on_exit "kill ${SPLIT_PID[$name]} 2>/dev/null"
  for i in $(seq 1 100); do
    grep -q "nimbus is ready" "$SPLIT/$name.log" && return 0
    kill -0 "${SPLIT_PID[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  fail "$E2E_STEP: $name did not start:
$(tail -20 "$SPLIT/$name.log")"
}
node_start() {
  split_start "node$1" env NIMBUS_OBJECTSTORE_STORAGE_PORT="${SP[$1 - 1]}" \
    "$NIMBUS_BIN" serve object-storage --data-dir "$SPLIT/n$1" --devices "$SPLIT/n$1/d$1"
}

step "serve object-storage x3 and object-proxy (tokens checked by identity over HTTP)"
for i in 1 2 3; do node_start "$i"; done
split_start proxy env NIMBUS_OBJECTSTORE_PROXY_PORT="${SP[3]}" NIMBUS_AUTH_AUTH_URL="$NIMBUS_AUTH_URL" \
  NIMBUS_AUTH_USERNAME=admin NIMBUS_AUTH_PASSWORD="$(openrc_get OS_PASSWORD)" NIMBUS_AUTH_PROJECT_NAME=admin \
  "$NIMBUS_BIN" serve object-proxy --data-dir "$SPLIT/proxy"
SPLIT_URL="http://127.0.0.1:${SP[3]}/v1/$ADMIN_ACCOUNT"
run sw --os-storage-url "$SPLIT_URL" post split
(cd "$F" && run sw --os-storage-url "$SPLIT_URL" upload split hello.txt)

step "one storage process killed: writes, reads and listings go on"
kill -9 "${SPLIT_PID[node2]}"
wait "${SPLIT_PID[node2]}" 2>/dev/null || true
(cd "$F" && run sw --os-storage-url "$SPLIT_URL" upload split small.bin)
run sw --os-storage-url "$SPLIT_URL" download split small.bin -o "$F/split.back"
expect_eq "md5 with a node down" "$(md5 "$F/split.back")" "$(md5 "$F/small.bin")"
run sw --os-storage-url "$SPLIT_URL" list split
expect_line "listing with a node down" "$OUT" "small.bin"
expect_line "listing with a node down" "$OUT" "hello.txt"

step "the node comes back and replication makes it whole"
node_start 2
n=0
for i in $(seq 1 150); do
  n=$(find "$SPLIT/n2/d2/objects" -name '*.data' 2>/dev/null | wc -l)
  [ "$n" -ge 2 ] && break
  sleep 0.2
done
[ "$n" -ge 2 ] || fail "$E2E_STEP: node 2 holds $n objects after 30 s, want 2"

step "restart keeps everything"
nimbus_stop
nimbus_start "$NIMBUS_DATA"
run sw download e2e small.bin -o "$F/small.again"
expect_eq "md5 after restart" "$(md5 "$F/small.again")" "$(md5 "$F/small.bin")"

log "objectstore.sh: all $E2E_NSTEP steps passed"
