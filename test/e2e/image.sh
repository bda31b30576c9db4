#!/usr/bin/env bash
# test/e2e/image.sh - drive Debian's `openstack` CLI (python3-openstackclient)
# through the Image API (Glance v2) of a fresh `nimbus up`, checking every
# answer: uploads of raw and qcow2 data, listing with filters, updates,
# protection, download checksums, tags, deactivation, sharing with another
# project, a refused format mismatch, and another project's private image.
# Stops at the first unexpected result, naming the step, the command and what
# it printed. Needs qemu-img (qemu-utils). Environment: see lib.sh.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

command -v qemu-img >/dev/null || fail "qemu-img is missing: apt-get install -y qemu-utils (or run .ci/deps)"

F="$E2E_DIR/files"
mkdir -p "$F"

# web-download fetches from this local web server, the only host nimbus may
# download from here.
WEB_PORT="$(e2e_free_ports 1)"
/usr/bin/python3 -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory "$F" >"$E2E_DIR/web.log" 2>&1 &
e2e_on_exit "kill $! 2>/dev/null"
WEB_URL="http://127.0.0.1:$WEB_PORT"
export NIMBUS_IMAGE_WEB_DOWNLOAD_ALLOWED_HOSTS=127.0.0.1

# shellcheck disable=SC2119 # a fresh temp data dir
nimbus_start
NIMBUS_IMAGE_URL="http://127.0.0.1:$NIMBUS_IMAGE_PORT"

# wait_status ID STATUS: poll until the image has STATUS (30 s at most).
wait_status() {
  local i
  for i in $(seq 1 150); do
    [ "$(image_status "$1")" = "$2" ] && return 0
    sleep 0.2
  done
  fail "$E2E_STEP: image $1 is $(image_status "$1"), not $2, after 30 s"
}

REGION="$(openrc_get OS_REGION_NAME)"
REGION="${REGION:-RegionOne}"

# osc_as USER PASSWORD PROJECT ARGS...: the CLI as that user of domain
# Default, not with the admin credentials of clouds.yaml.
osc_as() {
  local u="$1" p="$2" proj="$3"
  shift 3
  env -u OS_CLOUD -u OS_CLIENT_CONFIG_FILE OS_AUTH_URL="$NIMBUS_AUTH_URL" \
    OS_IDENTITY_API_VERSION=3 OS_REGION_NAME="$REGION" OS_INTERFACE=public \
    OS_USERNAME="$u" OS_PASSWORD="$p" OS_PROJECT_NAME="$proj" \
    OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
    timeout "${E2E_CLI_TIMEOUT:-120}" /usr/bin/openstack "$@"
}

# image_status ID: its status as the admin sees it ("" when it is gone).
image_status() {
  /usr/bin/openstack image show "$1" -f value -c status 2>/dev/null || true
}

# --- catalog ------------------------------------------------------------------
step "catalog show image"
run osc catalog show image -f json
expect_eq "type" "$(jfield type)" image
expect_contains "image endpoints" "$(jfield endpoints)" "127.0.0.1:$NIMBUS_IMAGE_PORT"

# --- create with data ---------------------------------------------------------
step "image create --file (raw)"
head -c $((1024 * 1024 + 123)) /dev/urandom >"$F/disk.raw"
RAW_MD5="$(md5sum "$F/disk.raw" | cut -d' ' -f1)"
run osc image create --disk-format raw --container-format bare --file "$F/disk.raw" \
  --property e2e=raw e2e-raw -f json
RAW="$(jfield id)"
# (the CLI prints the image as created, before its upload: show it again)
run osc image show "$RAW" -f json
expect_eq "status" "$(jfield status)" active
expect_eq "disk_format" "$(jfield disk_format)" raw
expect_eq "checksum" "$(jfield checksum)" "$RAW_MD5"
expect_eq "size" "$(jfield size)" $((1024 * 1024 + 123))

step "image create --file (qcow2 made by qemu-img)"
qemu-img create -q -f qcow2 "$F/disk.qcow2" 64M
QCOW_MD5="$(md5sum "$F/disk.qcow2" | cut -d' ' -f1)"
run osc image create --disk-format qcow2 --container-format bare --file "$F/disk.qcow2" \
  --property e2e=qcow2 e2e-qcow2 -f json
QCOW="$(jfield id)"
run osc image show "$QCOW" -f json
expect_eq "status" "$(jfield status)" active
expect_eq "disk_format" "$(jfield disk_format)" qcow2
expect_eq "checksum" "$(jfield checksum)" "$QCOW_MD5"
run osc image show "$QCOW" -f value -c virtual_size
expect_eq "virtual_size (from the qcow2 header)" "$OUT" $((64 * 1024 * 1024))

step "image create --private"
# (always with --file: without it the CLI uploads its stdin when that is not
# a terminal, and fails when stdin is closed)
head -c 4096 /dev/urandom >"$F/small.raw"
run osc image create --disk-format raw --container-format bare --private --file "$F/small.raw" e2e-private -f json
EMPTY="$(jfield id)"
expect_eq "visibility" "$(jfield visibility)" private

# --- list ---------------------------------------------------------------------
step "image list"
run osc image list -f value -c ID -c Name -c Status
expect_line "image list" "$OUT" "$RAW e2e-raw active"
expect_line "image list" "$OUT" "$QCOW e2e-qcow2 active"
expect_line "image list" "$OUT" "$EMPTY e2e-private active"

step "image list --property"
run osc image list --property e2e=qcow2 -f value -c ID
expect_eq "images with e2e=qcow2" "$OUT" "$QCOW"

step "image list --status"
run osc image list --status active -f value -c ID
expect_line "active images" "$OUT" "$RAW"
run osc image list --status queued -f value -c ID
expect_eq "queued images" "$OUT" ""

step "image list --private / --shared / --public / --community"
run osc image list --private -f value -c ID
expect_eq "private images" "$OUT" "$EMPTY"
run osc image list --shared -f value -c ID
expect_line "shared images" "$OUT" "$RAW"
expect_line "shared images" "$OUT" "$QCOW"
expect_no_line "shared images" "$OUT" "$EMPTY"
run osc image set --public "$RAW"
run osc image list --public -f value -c ID
expect_eq "public images" "$OUT" "$RAW"
run osc image set --community "$RAW"
run osc image list --community -f value -c ID
expect_eq "community images" "$OUT" "$RAW"
run osc image set --shared "$RAW"

# --- show, set, unset -----------------------------------------------------------
step "image show"
run osc image show e2e-raw -f json
expect_eq "id" "$(jfield id)" "$RAW"
expect_eq "container_format" "$(jfield container_format)" bare
expect_eq "visibility" "$(jfield visibility)" shared
expect_eq "protected" "$(jfield protected)" false
expect_contains "properties" "$(jfield properties)" '"e2e": "raw"'

step "image set --name --property --min-disk"
run osc image set --name e2e-raw2 --property colour=blue --min-disk 2 "$RAW"
run osc image show "$RAW" -f json
expect_eq "name" "$(jfield name)" e2e-raw2
expect_eq "min_disk" "$(jfield min_disk)" 2
expect_contains "properties" "$(jfield properties)" '"colour": "blue"'

step "image unset --property"
run osc image unset --property colour "$RAW"
run osc image show "$RAW" -f value -c properties
[[ $OUT != *colour* ]] || fail "$E2E_STEP: colour is still a property: $OUT"

step "image set --protected: delete must fail"
run osc image set --protected "$RAW"
run osc image show "$RAW" -f value -c protected
expect_eq "protected" "$OUT" True
run_fails osc image delete "$RAW"
expect_eq "status after the refused delete" "$(image_status "$RAW")" active

step "image set --unprotected"
run osc image set --unprotected "$RAW"
run osc image show "$RAW" -f value -c protected
expect_eq "protected" "$OUT" False

# --- save -----------------------------------------------------------------------
step "image save (checksums match)"
run osc image save --file "$F/raw.out" "$RAW"
expect_eq "md5 of the saved raw image" "$(md5sum "$F/raw.out" | cut -d' ' -f1)" "$RAW_MD5"
run osc image save --file "$F/qcow2.out" "$QCOW"
expect_eq "md5 of the saved qcow2 image" "$(md5sum "$F/qcow2.out" | cut -d' ' -f1)" "$QCOW_MD5"
run qemu-img info --output=json "$F/qcow2.out"
expect_eq "format of the saved qcow2 image" "$(jfield format)" qcow2

# --- tags -----------------------------------------------------------------------
step "image set --tag"
run osc image set --tag e2e-a --tag e2e-b "$RAW"
run osc image show "$RAW" -f json
expect_contains "tags" "$(jfield tags)" e2e-a
expect_contains "tags" "$(jfield tags)" e2e-b
run osc image list --tag e2e-a -f value -c ID
expect_eq "images tagged e2e-a" "$OUT" "$RAW"

step "image unset --tag"
run osc image unset --tag e2e-a "$RAW"
run osc image show "$RAW" -f json
[[ $(jfield tags) != *e2e-a* ]] || fail "$E2E_STEP: tag e2e-a is still there: $(jfield tags)"
expect_contains "tags" "$(jfield tags)" e2e-b

# --- deactivate -----------------------------------------------------------------
step "image set --deactivate"
run osc image set --deactivate "$QCOW"
expect_eq "status" "$(image_status "$QCOW")" deactivated

step "image set --activate"
run osc image set --activate "$QCOW"
expect_eq "status" "$(image_status "$QCOW")" active
run osc image save --file "$F/qcow2.again" "$QCOW"
expect_eq "md5 after reactivation" "$(md5sum "$F/qcow2.again" | cut -d' ' -f1)" "$QCOW_MD5"

# --- another project ------------------------------------------------------------
step "project and member user for sharing"
U_PW="e2e-$RANDOM-$RANDOM-pw"
run osc project create --domain default e2e-img-other -f json
OTHER="$(jfield id)"
run osc user create --domain default --password "$U_PW" e2e-img-user -f json
run osc role add --user e2e-img-user --project e2e-img-other member
as_user() { osc_as e2e-img-user "$U_PW" e2e-img-other "$@"; }

step "a shared image is not listed for a project it is not shared with"
run as_user image list -f value -c ID
expect_no_line "the other project's image list" "$OUT" "$RAW"

step "image add project"
run osc image add project "$RAW" "$OTHER" -f json
expect_eq "member_id" "$(jfield member_id)" "$OTHER"
expect_eq "status" "$(jfield status)" pending

step "image member list"
run osc image member list "$RAW" -f value -c "Member ID" -c Status
expect_line "members" "$OUT" "$OTHER pending"

step "the member accepts: image set --accept, and the image is in its list"
run as_user image list -f value -c ID
expect_no_line "the member's list before accepting" "$OUT" "$RAW"
run as_user image set --accept "$RAW"
run as_user image list -f value -c ID
expect_line "the member's list" "$OUT" "$RAW"
run osc image member list "$RAW" -f value -c "Member ID" -c Status
expect_line "members" "$OUT" "$OTHER accepted"
run as_user image save --file "$F/shared.out" "$RAW"
expect_eq "md5 of the shared image as the member saves it" "$(md5sum "$F/shared.out" | cut -d' ' -f1)" "$RAW_MD5"

step "image remove project"
run osc image remove project "$RAW" "$OTHER"
run osc image member list "$RAW" -f value -c "Member ID"
expect_no_line "members" "$OUT" "$OTHER"
run as_user image list -f value -c ID
expect_no_line "the former member's list" "$OUT" "$RAW"

step "another project's private image: image show fails with 404"
run_fails as_user image show "$EMPTY"
expect_contains "error" "$ERR" "No Image found"

# --- a format mismatch is refused --------------------------------------------------
step "qcow2 data declared --disk-format raw is refused"
run_fails osc image create --disk-format raw --container-format bare --file "$F/disk.qcow2" e2e-liar
expect_contains "error" "$ERR" "400"
# nimbus puts the image back in queued; the CLI then deletes it.
run osc image list --name e2e-liar -f value -c Status
[[ $OUT != *active* ]] || fail "$E2E_STEP: e2e-liar became active"

# --- interoperable import ----------------------------------------------------------
step "image create --import (glance-direct: stage, then import)"
run osc image create --import --disk-format raw --container-format bare --file "$F/disk.raw" e2e-imported -f json
IMPORTED="$(jfield id)"
wait_status "$IMPORTED" active
run osc image show "$IMPORTED" -f json
expect_eq "checksum" "$(jfield checksum)" "$RAW_MD5"

step "web-download import from an allowed host (glance image-create-via-import)"
# glanceclient reads the admin-openrc variables, not clouds.yaml; stdin is
# closed, or it would take it for image data.
run env -u OS_CLOUD -u OS_CLIENT_CONFIG_FILE bash -c '. "$1" && exec timeout 120 /usr/bin/glance \
  --os-image-url "$2" image-create-via-import --name e2e-web --disk-format raw --container-format bare \
  --import-method web-download --uri "$3" <&-' _ "$NIMBUS_DATA/admin-openrc" "$NIMBUS_IMAGE_URL" "$WEB_URL/disk.raw"
run osc image list --name e2e-web -f value -c ID
WEB="$OUT"
expect_nonempty "e2e-web id" "$WEB"
wait_status "$WEB" active
run osc image show "$WEB" -f json
expect_eq "checksum" "$(jfield checksum)" "$RAW_MD5"

# --- delete ------------------------------------------------------------------------
step "image delete"
ids=("$RAW" "$QCOW" "$EMPTY" "$IMPORTED" "$WEB")
while read -r id; do [ -n "$id" ] && ids+=("$id"); done < <(/usr/bin/openstack image list --name e2e-liar -f value -c ID)
run osc image delete "${ids[@]}"
run osc image list -f value -c ID
for id in "${ids[@]}"; do expect_no_line "image list" "$OUT" "$id"; done
run_fails osc image show "$RAW"

run osc user delete e2e-img-user
run osc project delete e2e-img-other

echo "image.sh: all $E2E_NSTEP steps passed"
