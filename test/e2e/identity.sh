#!/usr/bin/env bash
# test/e2e/identity.sh - drive Debian's `openstack` CLI (python3-openstackclient)
# through the Identity API of a fresh `nimbus up`, checking every answer, then
# restart nimbus on the same data and check that nothing was lost or redone.
# Stops at the first unexpected result, naming the step, the command and what
# it printed. Environment: see lib.sh.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
. "$HERE/lib.sh"

nimbus_start

ADMIN_PROJECT="$(openrc_get OS_PROJECT_NAME)"
ADMIN_PROJECT_DOMAIN="$(openrc_get OS_PROJECT_DOMAIN_NAME)"
REGION="$(openrc_get OS_REGION_NAME)"
REGION="${REGION:-RegionOne}"

# osc_env NAME=VALUE... -- ARGS...: the CLI with only the given credentials,
# not those of clouds.yaml.
osc_env() {
  local -a envs=()
  while [ "$1" != -- ]; do envs+=("$1") && shift; done
  shift
  env -u OS_CLOUD -u OS_CLIENT_CONFIG_FILE OS_AUTH_URL="$NIMBUS_AUTH_URL" \
    OS_IDENTITY_API_VERSION=3 OS_REGION_NAME="$REGION" OS_INTERFACE=public \
    "${envs[@]}" timeout "${E2E_CLI_TIMEOUT:-120}" /usr/bin/openstack "$@"
}
# osc_as USER PASSWORD PROJECT ARGS...: the CLI as that user of domain Default.
osc_as() {
  local u="$1" p="$2" proj="$3"
  shift 3
  osc_env OS_USERNAME="$u" OS_PASSWORD="$p" OS_PROJECT_NAME="$proj" \
    OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default -- "$@"
}
# osc_token TOKEN ARGS...: the CLI authenticated by an existing token, scoped
# to the admin project.
osc_token() {
  local t="$1"
  shift
  osc_env OS_AUTH_TYPE=v3token OS_TOKEN="$t" OS_PROJECT_NAME="$ADMIN_PROJECT" \
    OS_PROJECT_DOMAIN_NAME="${ADMIN_PROJECT_DOMAIN:-Default}" -- "$@"
}

# ---------------------------------------------------------------------------
step "clouds.yaml and admin-openrc are private (0600)"
for f in "$NIMBUS_DATA/clouds.yaml" "$NIMBUS_DATA/admin-openrc"; do
  expect_eq "mode of $f" "$(stat -c %a "$f")" 600
done

# --- tokens ------------------------------------------------------------------
step "token issue"
run osc token issue -f json
ADMIN_TOKEN="$(jfield id)"
ADMIN_USER="$(jfield user_id)"
ADMIN_PROJECT_ID="$(jfield project_id)"
expect_nonempty "token id" "$ADMIN_TOKEN"
expect_nonempty "token user_id" "$ADMIN_USER"
expect_nonempty "token project_id" "$ADMIN_PROJECT_ID"
expect_nonempty "token expires" "$(jfield expires)"

step "token issue with the token method"
run osc token issue -f value -c id
T2="$OUT"
run osc_token "$T2" token issue -f json
expect_eq "user_id of a token got with a token" "$(jfield user_id)" "$ADMIN_USER"
expect_eq "project_id of a token got with a token" "$(jfield project_id)" "$ADMIN_PROJECT_ID"

step "token revoke"
run osc token revoke "$T2"

step "a revoked token is refused"
run_fails osc_token "$T2" token issue
[[ $ERR == *"HTTP 401"* || $ERR == *"HTTP 404"* ]] ||
  fail "$E2E_STEP: want an HTTP 401 or 404, got: $ERR"

# --- projects ----------------------------------------------------------------
step "project create (kept for the restart check)"
run osc project create --domain default --description "e2e: survives a restart" e2e-keep -f json
KEEP="$(jfield id)"
expect_eq "domain_id" "$(jfield domain_id)" default

step "project create"
run osc project create --domain default --description "e2e parent" e2e-parent -f json
P="$(jfield id)"
expect_eq "name" "$(jfield name)" e2e-parent
expect_eq "description" "$(jfield description)" "e2e parent"
expect_eq "enabled" "$(jfield enabled)" true

step "project create --parent"
run osc project create --domain default --parent e2e-parent --description "e2e child" e2e-child -f json
C="$(jfield id)"
expect_eq "parent_id of the child" "$(jfield parent_id)" "$P"

step "project list"
run osc project list -f value -c ID -c Name
expect_line "project list" "$OUT" "$P e2e-parent"
expect_line "project list" "$OUT" "$C e2e-child"
expect_line "project list" "$OUT" "$KEEP e2e-keep"

step "project show"
run osc project show e2e-parent -f json
expect_eq "id" "$(jfield id)" "$P"
expect_eq "domain_id" "$(jfield domain_id)" default
expect_eq "parent_id of a top-level project (its domain)" "$(jfield parent_id)" default
expect_eq "is_domain" "$(jfield is_domain)" false

step "project set --name --description"
run osc project set --name e2e-parent2 --description "e2e changed" "$P"
run osc project show "$P" -f json
expect_eq "name" "$(jfield name)" e2e-parent2
expect_eq "description" "$(jfield description)" "e2e changed"

# (Keystone refuses to disable a project whose subtree has enabled projects,
# so the leaf is the one disabled.)
step "project set --disable / --enable"
run osc project set --disable "$C"
run osc project show "$C" -f value -c enabled
expect_eq "enabled" "$OUT" False
run osc project set --enable "$C"
run osc project show "$C" -f value -c enabled
expect_eq "enabled" "$OUT" True

step "project delete of a project with a child is refused"
run_fails osc project delete "$P"

step "project delete"
run osc project delete "$C"
run osc project delete "$P"
run osc project list -f value -c ID
expect_no_line "project list" "$OUT" "$C"
expect_no_line "project list" "$OUT" "$P"
run_fails osc project show "$P"

# --- domains -----------------------------------------------------------------
step "domain create"
run osc domain create --description "e2e domain" e2e-domain -f json
D="$(jfield id)"
expect_eq "name" "$(jfield name)" e2e-domain
expect_eq "enabled" "$(jfield enabled)" true
run osc domain list -f value -c ID -c Name
expect_line "domain list" "$OUT" "$D e2e-domain"

step "domain delete of an enabled domain is refused"
run_fails osc domain delete e2e-domain

step "domain set --disable"
run osc domain set --disable --description "e2e disabled" e2e-domain
run osc domain show "$D" -f json
expect_eq "enabled" "$(jfield enabled)" false
expect_eq "description" "$(jfield description)" "e2e disabled"

step "domain delete"
run osc domain delete e2e-domain
run osc domain list -f value -c ID
expect_no_line "domain list" "$OUT" "$D"

# --- users -------------------------------------------------------------------
U_PW="e2e-pw-1-$RANDOM"
U_PW2="e2e-pw-2-$RANDOM"

step "user create --password"
run osc user create --domain default --password "$U_PW" --email e2e@example.org \
  --description "e2e user" e2e-user -f json
U="$(jfield id)"
expect_eq "name" "$(jfield name)" e2e-user
expect_eq "domain_id" "$(jfield domain_id)" default
expect_eq "enabled" "$(jfield enabled)" true

step "user list"
run osc user list -f value -c ID -c Name
expect_line "user list" "$OUT" "$U e2e-user"
expect_line "user list" "$OUT" "$ADMIN_USER admin"

step "user show"
run osc user show e2e-user -f json
expect_eq "id" "$(jfield id)" "$U"
expect_eq "email" "$(jfield email)" e2e@example.org
expect_eq "description" "$(jfield description)" "e2e user"

step "user set --email --description"
run osc user set --email e2e2@example.org --description "e2e user changed" e2e-user
run osc user show "$U" -f json
expect_eq "email" "$(jfield email)" e2e2@example.org
expect_eq "description" "$(jfield description)" "e2e user changed"

step "role add member on e2e-keep, so the user can log in there"
run osc role add --user e2e-user --project e2e-keep member

step "token issue as the user"
run osc_as e2e-user "$U_PW" e2e-keep token issue -f json
expect_eq "user_id" "$(jfield user_id)" "$U"
expect_eq "project_id" "$(jfield project_id)" "$KEEP"

step "user password set (as the user)"
run osc_as e2e-user "$U_PW" e2e-keep user password set --original-password "$U_PW" --password "$U_PW2"

step "the new password works, the old one no longer"
run osc_as e2e-user "$U_PW2" e2e-keep token issue -f value -c user_id
expect_eq "user_id" "$OUT" "$U"
run_fails osc_as e2e-user "$U_PW" e2e-keep token issue

# --- groups ------------------------------------------------------------------
step "group create"
run osc group create --domain default --description "e2e group" e2e-group -f json
G="$(jfield id)"
expect_eq "name" "$(jfield name)" e2e-group
run osc group list -f value -c ID -c Name
expect_line "group list" "$OUT" "$G e2e-group"

step "group add user"
run osc group add user e2e-group e2e-user

step "group contains user"
run osc group contains user e2e-group e2e-user
expect_eq "group contains user" "$OUT" "e2e-user in group e2e-group"
run osc user list --group e2e-group -f value -c Name
expect_line "user list --group" "$OUT" e2e-user

# --- roles -------------------------------------------------------------------
step "role create"
run osc role create e2e-role -f json
R="$(jfield id)"
expect_eq "name" "$(jfield name)" e2e-role
run osc role create e2e-implied -f json
R2="$(jfield id)"

step "role list"
run osc role list -f value -c ID -c Name
expect_line "role list" "$OUT" "$R e2e-role"
expect_line "role list" "$OUT" "$R2 e2e-implied"
for r in admin member reader; do
  grep -q " $r\$" <<<"$OUT" || fail "$E2E_STEP: the bootstrap role $r is missing; got:
$OUT"
done

step "implied role create"
run osc implied role create e2e-role --implied-role e2e-implied -f json
expect_eq "prior_role" "$(jfield prior_role)" "$R"
expect_eq "implies" "$(jfield implies)" "$R2"

step "implied role list"
run osc implied role list -f value -c "Prior Role Name" -c "Implied Role Name"
expect_line "implied role list" "$OUT" "e2e-role e2e-implied"

step "role add --user --project"
run osc role add --user e2e-user --project e2e-keep e2e-role
step "role add --group --project"
run osc role add --group e2e-group --project e2e-keep e2e-role
step "role add --user --domain"
run osc role add --user e2e-user --domain default e2e-role
step "role add --user --system all"
run osc role add --user e2e-user --system all e2e-role

# Debian's openstackclient 6.0 has no `role list --user --project` any more;
# `role assignment list --user --project` is its replacement.
step "role assignment list --user --project --names"
run osc role assignment list --user e2e-user --project e2e-keep --names -f value -c Role -c User -c Project
expect_line "assignments" "$OUT" "e2e-role e2e-user@Default e2e-keep@Default"
expect_line "assignments" "$OUT" "member e2e-user@Default e2e-keep@Default"

step "role assignment list --user --project (ids)"
run osc role assignment list --user "$U" --project "$KEEP" -f value -c Role -c User -c Project
expect_line "assignments" "$OUT" "$R $U $KEEP"

step "role assignment list --project --names (group assignment)"
run osc role assignment list --project e2e-keep --names -f value -c Role -c Group
expect_line "assignments" "$OUT" "e2e-role e2e-group@Default"

step "role assignment list --user --domain --names"
run osc role assignment list --user e2e-user --domain default --names -f value -c Role -c Domain
expect_line "assignments" "$OUT" "e2e-role Default"

step "role assignment list --user --system all"
run osc role assignment list --user e2e-user --system all --names -f value -c Role -c System
expect_line "assignments" "$OUT" "e2e-role all"

step "role assignment list --effective (groups expanded, implied roles added)"
run osc role assignment list --effective --user e2e-user --project e2e-keep --names -f value -c Role -c User -c Group
expect_line "effective assignments" "$OUT" "e2e-role e2e-user@Default "
expect_line "effective assignments" "$OUT" "e2e-implied e2e-user@Default "
expect_line "effective assignments" "$OUT" "member e2e-user@Default "
[[ $OUT != *e2e-group* ]] || fail "$E2E_STEP: --effective still lists the group; got:
$OUT"

step "role remove"
run osc role remove --user e2e-user --project e2e-keep e2e-role
run osc role remove --group e2e-group --project e2e-keep e2e-role
run osc role remove --user e2e-user --domain default e2e-role
run osc role remove --user e2e-user --system all e2e-role
run osc role assignment list --user e2e-user --names -f value -c Role
expect_line "assignments of e2e-user" "$OUT" member
expect_no_line "assignments of e2e-user" "$OUT" e2e-role
run osc role assignment list --user e2e-user --system all --names -f value -c Role
expect_no_line "system assignments of e2e-user" "$OUT" e2e-role
run osc role assignment list --group e2e-group -f value -c Role
expect_eq "assignments of e2e-group" "$OUT" ""

step "group remove user"
run osc group remove user e2e-group e2e-user
run osc group contains user e2e-group e2e-user
expect_eq "stdout of group contains user" "$OUT" ""
expect_contains "stderr of group contains user" "$ERR" "e2e-user not in group e2e-group"

step "group delete"
run osc group delete e2e-group
run osc group list -f value -c ID
expect_no_line "group list" "$OUT" "$G"

step "implied role delete, role delete"
run osc implied role delete e2e-role --implied-role e2e-implied
run osc implied role list -f value -c "Prior Role Name" -c "Implied Role Name"
expect_no_line "implied role list" "$OUT" "e2e-role e2e-implied"
run osc role delete e2e-role e2e-implied
run osc role list -f value -c Name
expect_no_line "role list" "$OUT" e2e-role
expect_no_line "role list" "$OUT" e2e-implied

step "user delete"
run osc user delete e2e-user
run osc user list -f value -c ID
expect_no_line "user list" "$OUT" "$U"
run_fails osc user show "$U"

# --- application credentials -----------------------------------------------
AC_SECRET="e2e-ac-secret-$RANDOM$RANDOM"
step "application credential create"
run osc application credential create --secret "$AC_SECRET" --description "e2e" e2e-appcred -f json
AC="$(jfield id)"
expect_eq "secret" "$(jfield secret)" "$AC_SECRET"
expect_eq "project_id" "$(jfield project_id)" "$ADMIN_PROJECT_ID"

step "token issue with the application credential"
run osc_env -- --os-auth-type v3applicationcredential --os-application-credential-id "$AC" \
  --os-application-credential-secret "$AC_SECRET" token issue -f json
expect_eq "user_id" "$(jfield user_id)" "$ADMIN_USER"
expect_eq "project_id" "$(jfield project_id)" "$ADMIN_PROJECT_ID"

step "a wrong application credential secret is refused"
run_fails osc_env -- --os-auth-type v3applicationcredential --os-application-credential-id "$AC" \
  --os-application-credential-secret "not-$AC_SECRET" token issue

step "application credential list / show"
run osc application credential list -f value -c ID -c Name
expect_line "application credential list" "$OUT" "$AC e2e-appcred"
run osc application credential show e2e-appcred -f json
expect_eq "id" "$(jfield id)" "$AC"

step "application credential delete"
run osc application credential delete "$AC"
run osc application credential list -f value -c ID
expect_no_line "application credential list" "$OUT" "$AC"
run_fails osc_env -- --os-auth-type v3applicationcredential --os-application-credential-id "$AC" \
  --os-application-credential-secret "$AC_SECRET" token issue

# --- catalog, services, endpoints, regions ----------------------------------
step "catalog list"
run osc catalog list -f value -c Type
expect_line "catalog types" "$OUT" identity

step "catalog show identity"
run osc catalog show identity -f json
expect_eq "type" "$(jfield type)" identity
expect_contains "identity endpoints" "$(jfield endpoints)" "127.0.0.1:$NIMBUS_IDENTITY_PORT"
expect_contains "identity endpoints" "$(jfield endpoints)" "$REGION"

step "endpoint list"
run osc endpoint list --service identity -f value -c Interface -c Region
expect_line "identity endpoints" "$OUT" "$REGION public"

step "region create / list"
run osc region create --description "e2e region" e2e-region -f json
expect_eq "region" "$(jfield region)" e2e-region
run osc region list -f value -c Region
expect_line "region list" "$OUT" e2e-region
expect_line "region list" "$OUT" "$REGION"

step "service create / list"
run osc service create --name e2e-service --description "e2e service" e2e-type -f json
S="$(jfield id)"
expect_eq "type" "$(jfield type)" e2e-type
run osc service list -f value -c ID -c Name -c Type
expect_line "service list" "$OUT" "$S e2e-service e2e-type"

step "endpoint create / list / show"
run osc endpoint create --region e2e-region e2e-service public http://127.0.0.1:9/e2e -f json
E="$(jfield id)"
expect_eq "url" "$(jfield url)" http://127.0.0.1:9/e2e
expect_eq "interface" "$(jfield interface)" public
expect_eq "service_id" "$(jfield service_id)" "$S"
run osc endpoint list --service e2e-service -f value -c ID -c Interface -c URL
expect_line "endpoint list" "$OUT" "$E public http://127.0.0.1:9/e2e"
run osc endpoint show "$E" -f json
expect_eq "region" "$(jfield region)" e2e-region

step "endpoint delete"
run osc endpoint delete "$E"
run osc endpoint list -f value -c ID
expect_no_line "endpoint list" "$OUT" "$E"

step "service delete"
run osc service delete "$S"
run osc service list -f value -c ID
expect_no_line "service list" "$OUT" "$S"

step "region delete"
run osc region delete e2e-region
run osc region list -f value -c Region
expect_no_line "region list" "$OUT" e2e-region

# --- credentials -------------------------------------------------------------
step "credential create --type ec2"
run osc credential create --type ec2 --project e2e-keep "$ADMIN_USER" \
  '{"access": "e2e-access", "secret": "e2e-secret"}' -f json
CR="$(jfield id)"
expect_eq "type" "$(jfield type)" ec2
expect_eq "user_id" "$(jfield user_id)" "$ADMIN_USER"
expect_eq "project_id" "$(jfield project_id)" "$KEEP"
run osc credential list -f value -c ID -c Type
expect_line "credential list" "$OUT" "$CR ec2"
run osc credential show "$CR" -f json
expect_contains "blob" "$(jfield blob)" e2e-access

step "credential delete"
run osc credential delete "$CR"
run osc credential list -f value -c ID
expect_no_line "credential list" "$OUT" "$CR"

step "ec2 credentials create"
run osc ec2 credentials create -f json
ACCESS="$(jfield access)"
expect_nonempty "access" "$ACCESS"
expect_nonempty "secret" "$(jfield secret)"
expect_eq "project_id" "$(jfield project_id)" "$ADMIN_PROJECT_ID"
expect_eq "user_id" "$(jfield user_id)" "$ADMIN_USER"

step "ec2 credentials list / show"
run osc ec2 credentials list -f value -c Access
expect_line "ec2 credentials list" "$OUT" "$ACCESS"
run osc ec2 credentials show "$ACCESS" -f json
expect_eq "access" "$(jfield access)" "$ACCESS"

step "ec2 credentials delete"
run osc ec2 credentials delete "$ACCESS"
run osc ec2 credentials list -f value -c Access
expect_no_line "ec2 credentials list" "$OUT" "$ACCESS"

# --- restart -----------------------------------------------------------------
step "snapshot before restart"
snapshot() {
  local what
  for what in "project list -f value -c ID -c Name" "user list -f value -c ID -c Name" \
    "domain list -f value -c ID -c Name" "role list -f value -c ID -c Name" \
    "region list -f value -c Region" "service list -f value -c ID -c Type" \
    "endpoint list -f value -c ID -c Interface -c URL" \
    "role assignment list -f value -c Role -c User -c Group -c Project -c Domain -c System"; do
    # shellcheck disable=SC2086 # $what is a word list
    run osc $what
    printf '== %s\n%s\n' "$what" "$(sort <<<"$OUT")"
  done
}
BEFORE="$(snapshot)"
PW_BEFORE="$(openrc_get OS_PASSWORD)"

step "stop nimbus (SIGTERM)"
nimbus_stop || fail "$E2E_STEP"

step "start nimbus again on the same data dir"
nimbus_start "$NIMBUS_DATA"

step "after restart: e2e-keep is still listed"
run osc project list -f value -c ID -c Name
expect_line "project list" "$OUT" "$KEEP e2e-keep"

step "after restart: no second bootstrap (same admin, password, roles, catalog, assignments)"
expect_eq "admin password in admin-openrc" "$(openrc_get OS_PASSWORD)" "$PW_BEFORE"
run osc user show admin -f value -c id
expect_eq "admin user id" "$OUT" "$ADMIN_USER"
AFTER="$(snapshot)"
if [ "$BEFORE" != "$AFTER" ]; then
  fail "$E2E_STEP: the identity data changed across the restart:
$(diff <(echo "$BEFORE") <(echo "$AFTER") || true)"
fi

step "after restart: a token issued before is still valid, a revoked one still refused"
run osc_token "$ADMIN_TOKEN" token issue -f value -c user_id
expect_eq "user_id" "$OUT" "$ADMIN_USER"
run_fails osc_token "$T2" token issue

step "project delete e2e-keep"
run osc project delete e2e-keep

echo "identity.sh: all $E2E_NSTEP steps passed"
