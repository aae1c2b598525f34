#!/usr/bin/env bash
# Demo of a DICOMweb source: start a local Orthanc (Debian packages orthanc +
# orthanc-dicomweb) on 127.0.0.1:${ORTHANC_PORT:-8042}, upload pydicom's bundled DICOM files,
# add it to $IHUB_HOME/sources.toml as source "orthanc" and harvest it. Stop Orthanc with
# `kill $(cat $IHUB_HOME/orthanc/orthanc.pid)`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test >/dev/null
export IHUB_HOME=${IHUB_HOME:-$PWD/.ihub-home}
port=${ORTHANC_PORT:-8042}
work="$IHUB_HOME/orthanc"
mkdir -p "$work"
cat > "$work/orthanc.json" <<JSON
{"Name": "ihub-demo", "StorageDirectory": "$work/storage", "IndexDirectory": "$work/index",
 "HttpPort": $port, "DicomPort": $((port + 1)), "RemoteAccessAllowed": false,
 "AuthenticationEnabled": false,
 "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
 "DicomWeb": {"Enable": true, "Root": "/dicom-web/"}}
JSON
Orthanc "$work/orthanc.json" >"$work/orthanc.log" 2>&1 &
echo $! > "$work/orthanc.pid"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/system" >/dev/null && break; sleep 0.2; done
.venv/bin/python - "$port" <<'PY'
import sys
from pathlib import Path

import httpx
from pydicom.data import get_testdata_files

url = f"http://127.0.0.1:{sys.argv[1]}"
ok = sum(httpx.post(f"{url}/instances", content=Path(f).read_bytes(), timeout=30).status_code == 200
         for f in get_testdata_files() if Path(f).is_file())
print(f"uploaded {ok} DICOM files to Orthanc at {url}")
PY
touch "$IHUB_HOME/sources.toml"
if ! grep -q '^\[sources.orthanc\]' "$IHUB_HOME/sources.toml"; then
  grep -q '^\[sources\.' "$IHUB_HOME/sources.toml" || printf '[sources.idc]\ntype = "idc"\n\n' >> "$IHUB_HOME/sources.toml"
  printf '[sources.orthanc]\ntype = "dicomweb"\nurl = "http://127.0.0.1:%s/dicom-web"\n' "$port" >> "$IHUB_HOME/sources.toml"
fi
.venv/bin/ihub harvest orthanc
.venv/bin/ihub count -f source=orthanc
