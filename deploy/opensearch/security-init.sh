#!/usr/bin/env bash
# Write the security plugin's configuration for a new cluster into DEST (default
# /security), run in the OpenSearch image before the nodes start (docker-compose.yml: service
# opensearch-security-init; deploy/k8s/: an init container). The image's defaults are copied,
# then internal_users.yml is replaced by three users with bcrypt hashes made by the plugin's
# own hash.sh, so no demo user or demo password survives:
#   admin         OPENSEARCH_INITIAL_ADMIN_PASSWORD   all_access (backend role admin)
#   kibanaserver  DASHBOARDS_PASSWORD                 OpenSearch Dashboards' server user
#   $OPENSEARCH_USERNAME (default ihub), OPENSEARCH_PASSWORD: imaging-hub, owner of the
#                 indices and aliases named ${IHUB_INDEX_PREFIX:-ihub}*
# The nodes read these files only when the security index does not exist yet (first start);
# to change a password later use securityadmin.sh or the security REST API.
set -euo pipefail

dest=${1:-/security}
home=${OPENSEARCH_HOME:-/usr/share/opensearch}
defaults=${SECURITY_DEFAULTS:-$home/config/opensearch-security}
hash_tool=${HASH_TOOL:-$home/plugins/opensearch-security/tools/hash.sh}
user=${OPENSEARCH_USERNAME:-ihub}
prefix=${IHUB_INDEX_PREFIX:-ihub}
if [ -z "${OPENSEARCH_JAVA_HOME:-}" ] && [ -d "$home/jdk" ]; then
  export OPENSEARCH_JAVA_HOME="$home/jdk"
fi

fail() { echo "security-init: $*" >&2; exit 1; }
for var in OPENSEARCH_INITIAL_ADMIN_PASSWORD DASHBOARDS_PASSWORD OPENSEARCH_PASSWORD; do
  value=${!var:-}
  [ ${#value} -ge 8 ] || fail "$var must be set to a password of at least 8 characters"
done
[[ "$user" =~ ^[A-Za-z0-9_-]+$ ]] || fail "OPENSEARCH_USERNAME '$user': use letters, digits, _ or -"
[ "$user" != admin ] && [ "$user" != kibanaserver ] \
  || fail "OPENSEARCH_USERNAME '$user' is reserved (admin, kibanaserver)"
[[ "$prefix" =~ ^[a-z0-9][a-z0-9_-]*$ ]] \
  || fail "IHUB_INDEX_PREFIX '$prefix': lower-case letters, digits, _ or -"
[ -f "$defaults/config.yml" ] || fail "no security defaults in $defaults"
[ -x "$hash_tool" ] || [ -f "$hash_tool" ] || fail "hash tool $hash_tool not found"

hash_of() {  # $1: name of the variable holding the password; prints its bcrypt hash
  local out
  out=$(bash "$hash_tool" -env "$1") || fail "hash.sh failed for $1"
  out=$(printf '%s\n' "$out" | tail -n 1)
  [[ "$out" == \$2* ]] || fail "hash.sh printed no bcrypt hash for $1"
  printf '%s' "$out"
}

mkdir -p "$dest"
cp "$defaults"/*.yml "$dest"/
admin_hash=$(hash_of OPENSEARCH_INITIAL_ADMIN_PASSWORD)
dashboards_hash=$(hash_of DASHBOARDS_PASSWORD)
user_hash=$(hash_of OPENSEARCH_PASSWORD)

cat > "$dest/internal_users.yml" <<YAML
_meta:
  type: "internalusers"
  config_version: 2
admin:
  hash: "$admin_hash"
  reserved: true
  backend_roles: ["admin"]
  description: "Cluster administrator"
kibanaserver:
  hash: "$dashboards_hash"
  reserved: true
  description: "OpenSearch Dashboards server"
$user:
  hash: "$user_hash"
  reserved: false
  description: "imaging-hub API, CLI and Dagster harvests"
YAML

cat >> "$dest/roles.yml" <<YAML

ihub_index_owner:
  reserved: false
  description: "imaging-hub: create, fill, alias and delete its own indices"
  cluster_permissions:
    - "cluster_monitor"
    - "cluster_composite_ops"
    - "indices:admin/template/*"
    - "indices:admin/index_template/*"
    - "indices:data/read/point_in_time/delete"
  index_permissions:
    - index_patterns: ["$prefix*"]
      allowed_actions: ["indices_all"]
YAML

cat >> "$dest/roles_mapping.yml" <<YAML

ihub_index_owner:
  reserved: false
  users: ["$user"]
YAML

chmod 0640 "$dest"/*.yml
if [ "$(id -u)" = 0 ]; then chown -R 1000:1000 "$dest"; fi  # the image's opensearch user
echo "security-init: wrote $dest (users admin, kibanaserver, $user; indices $prefix*)"
