#!/usr/bin/env bash
# Make the TLS material of the OpenSearch cluster with openssl: a root CA, one certificate
# per node (transport and HTTP, with subjectAltNames) and the admin client certificate
# (security configuration changes through securityadmin.sh).
#
#   deploy/certs.sh [OUT_DIR] [NODE ...]
#
# OUT_DIR defaults to deploy/certs. A NODE is NAME or NAME=SAN,SAN,... where a SAN is a DNS
# name or an IPv4 address; NAME becomes the certificate's CN (it must start with
# "opensearch", the pattern of plugins.security.nodes_dn in opensearch/opensearch.yml) and a
# DNS SAN, and localhost/127.0.0.1 are always added (health checks inside the container).
# Without NODE arguments: opensearch-node1..3, the services of docker-compose.yml.
# For Kubernetes (namespace imaging-hub), one certificate for every pod of the StatefulSet:
#   deploy/certs.sh deploy/k8s/certs \
#     'opensearch=*.opensearch-headless.imaging-hub.svc.cluster.local,opensearch.imaging-hub.svc'
#
# Keys are unencrypted PKCS#8 (what the security plugin reads), mode 0644 inside an
# OUT_DIR of mode 0700: readable by the containers' users through the bind mounts, by no
# other user of the host. An existing root CA is reused, so nodes can be added later.
set -euo pipefail

out=${1:-"$(dirname "$0")/certs"}
shift || true
[ $# -gt 0 ] || set -- opensearch-node1 opensearch-node2 opensearch-node3
days=${CERT_DAYS:-730}
subject_base="/O=imaging-hub/OU=search"
command -v openssl >/dev/null || { echo "certs.sh: openssl is not installed" >&2; exit 1; }

for spec in "$@"; do  # check every name before writing anything
  case "${spec%%=*}" in
    opensearch*) ;;
    *) echo "certs.sh: node name '${spec%%=*}' must start with 'opensearch' (plugins.security.nodes_dn)" >&2
       exit 1 ;;
  esac
done

mkdir -p "$out"
chmod 0700 "$out"
cd "$out"

new_key() {  # $1: file; RSA 2048 as unencrypted PKCS#8
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
  chmod 0644 "$1"
}

if [ ! -s root-ca.pem ] || [ ! -s root-ca-key.pem ]; then
  new_key root-ca-key.pem
  chmod 0600 root-ca-key.pem   # the CA key never goes into a container
  openssl req -x509 -new -sha256 -days "$((days * 2))" -key root-ca-key.pem \
    -subj "$subject_base/CN=imaging-hub root CA" -out root-ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

sign() {  # $1: name, $2: subject, $3: extension file
  openssl req -new -key "$1-key.pem" -subj "$2" -out "$1.csr"
  openssl x509 -req -sha256 -days "$days" -in "$1.csr" -CA root-ca.pem -CAkey root-ca-key.pem \
    -CAcreateserial -extfile "$3" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$3"
  chmod 0644 "$1.pem"
}

new_key admin-key.pem
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > admin.ext
sign admin "$subject_base/CN=admin" admin.ext

for spec in "$@"; do
  name=${spec%%=*}
  sans="DNS:$name,DNS:localhost,IP:127.0.0.1"
  if [ "$spec" != "$name" ]; then
    IFS=',' read -r -a extra <<< "${spec#*=}"
    for san in "${extra[@]}"; do
      if [[ "$san" =~ ^[0-9]+(\.[0-9]+){3}$ ]]; then sans+=",IP:$san"; else sans+=",DNS:$san"; fi
    done
  fi
  new_key "$name-key.pem"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
    "$sans" > "$name.ext"
  sign "$name" "$subject_base/CN=$name" "$name.ext"
  echo "certs.sh: $out/$name.pem ($sans)"
done
rm -f root-ca.srl
echo "certs.sh: root CA $out/root-ca.pem, admin certificate $out/admin.pem"
