#!/usr/bin/env bash
# Compatibility tests: Microsoft's own clients against `d365 emulator` over HTTPS.
#   MSAL for Python 1.39.0, azure-identity 1.27.0, PowerPlatform-Dataverse-Client 1.1.0 (PyPI),
#   @azure/msal-node 7.2.3 and dynamics-web-api 2.5.0 (npm), installed into target/compat
#   (ignored by git) from the registries on first run; and Azurite 3.35.0 (npm, Microsoft's
#   storage emulator, in its OAuth mode, telemetry off), which must take the emulator's Azure
#   Storage tokens as azure-identity gets them.
# Every client runs against two layouts, each a fresh emulator (20 seeded accounts):
#   443     `--tls --port 443` alone: every URL the emulator writes is https://127.0.0.1/…, no
#           default port (msal-node compares the issuer's host with the authority's);
#   N+443   `--tls --port 0 --also-port 443`: URLs carry the ephemeral port N, and 443 answers
#           the user realm MSAL for Python asks for during the password grant whatever port the
#           authority names.
# Both bind 443: run as root (as CI does). Each output line starts with its layout.
# D365_BIN=path/to/d365 skips the build (for callers that built it already).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/target/compat
mkdir -p "$work"

if [ -z "${D365_BIN:-}" ]; then
  cargo build -q -p d365-cli
fi
d365=${D365_BIN:-$root/target/debug/d365}

if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/pip" install -q --disable-pip-version-check msal==1.39.0 azure-identity==1.27.0 requests \
  PowerPlatform-Dataverse-Client==1.1.0
if [ ! -d "$work/node/node_modules/@azure/msal-node" ] || [ ! -d "$work/node/node_modules/playwright-core" ] \
  || [ ! -d "$work/node/node_modules/dynamics-web-api" ] || [ ! -d "$work/node/node_modules/azurite" ]; then
  mkdir -p "$work/node"
  (cd "$work/node" && npm install --silent --no-audit --no-fund @azure/msal-node@7.2.3 playwright-core@1.64.1 \
    dynamics-web-api@2.5.0 azurite@3.35.0 >/dev/null)
fi
# Azurite's OAuth mode needs HTTPS: a certificate of its own for 127.0.0.1.
if [ ! -s "$work/azurite-cert.pem" ] || [ ! -s "$work/azurite-key.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/azurite-key.pem" -out "$work/azurite-cert.pem" \
    >"$work/azurite-cert.log" 2>&1 || { echo "openssl could not make Azurite's certificate:"; cat "$work/azurite-cert.log"; exit 1; }
fi
# Debian's Chromium for the browser test (playwright-core drives it; it downloads no browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing (apt-get install chromium, as root)"; exit 1
  fi
fi

# A certificate for CertificateCredential, registered with the emulator's demo app.
"$work/venv/bin/python" "$root/compat/python/make_cert.py" "$work/app-cert.pem"

# One layout: a fresh emulator with the given port flags, every client against it.
run_layout() {
  local layout=$1; shift
  local info=$work/emulator-$layout.json log=$work/emulator-$layout.log
  rm -f "$info"
  "$d365" emulator --tls "$@" --seed 20 --device-code-interval 1 \
    --client-certificate "$work/app-cert.pem" --info-file "$info" >"$log" 2>&1 &
  local emulator=$!
  for _ in $(seq 1 100); do [ -s "$info" ] && break; sleep 0.1; done
  if [ ! -s "$info" ]; then
    echo "[$layout] the emulator did not start:"; sed "s/^/[$layout] /" "$log"
    kill "$emulator" 2>/dev/null || true; wait "$emulator" 2>/dev/null || true
    return 1
  fi
  local ca status=0
  ca=$("$work/venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_file"])' "$info")
  local py="$work/venv/bin/python" node_env=(env NODE_EXTRA_CA_CERTS="$ca" NODE_PATH="$work/node/node_modules")
  (
    status=0
    REQUESTS_CA_BUNDLE=$ca SSL_CERT_FILE=$ca "$py" "$root/compat/python/test_clients.py" "$info" "$work/app-cert.pem" || status=1
    "${node_env[@]}" node "$root/compat/node/test_msal_node.js" "$info" || status=1
    NODE_PATH=$work/node/node_modules node "$root/compat/browser/test_browser.js" "$info" "$d365" "$work/sign-in-$layout.png" || status=1
    # Dataverse Web API clients: dynamics-web-api (node) and Microsoft's Dataverse SDK for
    # Python. Both expect exactly the 20 seeded accounts and delete what they create. Checks
    # of features the emulator lacks so far are listed as pending in the scripts (reported,
    # never failing).
    "${node_env[@]}" node "$root/compat/node/test_dynamicswebapi.js" "$info" || status=1
    REQUESTS_CA_BUNDLE=$ca SSL_CERT_FILE=$ca "$py" "$root/compat/python/test_dataverse_sdk.py" "$info" || status=1
    # Azurite on an ephemeral port, for the storage tokens.
    local azurite_log=$work/azurite-$layout.log
    : >"$azurite_log" # emptied here: the last run's port must not be read
    "$work/node/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort 0 --oauth basic \
      --cert "$work/azurite-cert.pem" --key "$work/azurite-key.pem" --inMemoryPersistence \
      --disableTelemetry --silent >"$azurite_log" 2>&1 &
    local azurite=$! blob=""
    trap 'kill $azurite 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
      blob=$(grep -o 'https://127.0.0.1:[0-9]*' "$azurite_log" | head -1 || true)
      [ -n "$blob" ] && break; sleep 0.1
    done
    if [ -n "$blob" ]; then
      REQUESTS_CA_BUNDLE=$ca SSL_CERT_FILE=$ca "$py" "$root/compat/python/test_azurite.py" "$info" "$blob" \
        "$work/azurite-cert.pem" || status=1
    else
      echo "Azurite did not start:"; cat "$azurite_log"; status=1
    fi
    kill "$azurite" 2>/dev/null || true; wait "$azurite" 2>/dev/null || true
    exit $status
  ) 2>&1 | sed -u "s/^/[$layout] /"
  status=${PIPESTATUS[0]}
  kill "$emulator" 2>/dev/null || true
  wait "$emulator" 2>/dev/null || true
  return "$status"
}

status=0
trap 'jobs -p | xargs -r kill 2>/dev/null || true' EXIT
run_layout 443 --port 443 || status=1
run_layout N+443 --port 0 --also-port 443 || status=1
[ $status = 0 ] && echo "compat: every layout passed" || echo "compat: FAILED (see the lines above)"
exit $status
