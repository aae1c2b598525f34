#!/usr/bin/env bash
# Set up everything imaging-hub needs on a fresh Debian machine with Python 3.11:
# a virtual environment in .venv with the project installed (editable) and its extras.
#   scripts/setup.sh            runtime only
#   scripts/setup.sh test       + test tools (pytest, schemathesis, ruff, mypy, playwright,
#                               deploy validators, dagster-postgres) and Debian packages
#                               orthanc, orthanc-dicomweb, chromium, postgresql, openssl, plus
#                               what scripts/opensearch.sh and elasticsearch.sh need (Java 17,
#                               maven, unzip, curl, acl)
#   scripts/setup.sh test bench + benchmark peers (idc-index) and wrk (load generator)
set -euo pipefail
cd "$(dirname "$0")/.."

extras=$(IFS=,; echo "$*")
py=${PYTHON:-}
if [ -z "$py" ]; then
  for cand in python3.11 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1; then py=$cand; break; fi
  done
fi
[ -n "$py" ] || { echo "setup: no python3 found; install Python 3.11" >&2; exit 1; }
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "setup: $py is older than 3.11" >&2; exit 1; }

apt_install() {  # Debian packages, only those missing; needs root (CI and dev machines are)
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: please install Debian packages: ${missing[*]}" >&2; return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  ver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  apt_install "python${ver}-venv" || apt_install python3-venv
fi

# Real peers the tests run against: Orthanc with its DICOMweb plugin, Debian's Chromium,
# PostgreSQL (Dagster's storage), openssl (deploy/certs.sh), and the tools that fetch and run
# real OpenSearch/Elasticsearch nodes (scripts/engine-common.sh).
case ",$extras," in
  *,test,*)
    apt_install orthanc orthanc-dicomweb chromium postgresql openssl
    apt_install openjdk-17-jre-headless maven unzip curl acl ;;
esac
case ",$extras," in
  *,bench,*) apt_install wrk ;;   # the load generator of bench/bench_backends.py
esac

if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
echo "setup: ready (.venv, extras: ${extras:-none})"
