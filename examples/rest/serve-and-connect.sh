#!/bin/sh
# The sandbox served as the RS REST API over HTTPS, and three clients talking to it: this shell
# (the REST backend), curl and openssl s_client. Everything happens in a new temporary directory;
# the server is stopped at the end. Each step prints its exit code; the script exits 1 if any step
# ended differently than a real cluster would make it end.
#   sh serve-and-connect.sh      (RLADMIN=/path/to/rladmin-py to use another build)
set -u
RLADMIN=${RLADMIN:-rladmin-py}
work=$(mktemp -d "${TMPDIR:-/tmp}/rladmin-rest.XXXXXX") || exit 1
sandbox="$work/sandbox.json"
server=""
cleanup() {
    [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failures=0

# expect CODE COMMAND...: run it, show it and its exit code, count a surprise
expect() {
    want=$1; shift
    printf '$ %s\n' "$*"
    "$@"
    got=$?
    echo "[exit $got]"
    echo
    [ "$got" = "$want" ] || { echo "!! expected exit $want" >&2; failures=$((failures + 1)); }
}

# 1. Serve the sandbox. --json prints one line once the server accepts connections: read it
#    through a FIFO (no waiting loop).
mkfifo "$work/ready"
"$RLADMIN" --sandbox "$sandbox" --serve 127.0.0.1:0 --json >"$work/ready" 2>"$work/server.log" &
server=$!
read -r line <"$work/ready" || { echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$line" "$1"; }
URL=$(field url)
export REDIS_ENTERPRISE_URL="$URL" REDIS_ENTERPRISE_USER="$(field user)" REDIS_ENTERPRISE_CA_CERT="$(field ca_cert)"
export REDIS_ENTERPRISE_PASSWORD="$(field password)"
echo "serving $URL (user $REDIS_ENTERPRISE_USER, CA $REDIS_ENTERPRISE_CA_CERT)"
echo

# 2. The shell against it, exactly as against a production cluster (the REDIS_ENTERPRISE_* variables
#    above are the ones redisctl reads too).
expect 0 "$RLADMIN" info cluster
expect 0 "$RLADMIN" cluster certificate show api
echo "not a certificate" >"$work/not-a-ca.pem"
expect 3 "$RLADMIN" --ca-cert "$work/not-a-ca.pem" info cluster       # not a CA certificate: exit 3
expect 3 env REDIS_ENTERPRISE_PASSWORD=wrong "$RLADMIN" info cluster  # wrong password: exit 3

# 3. Raise the REST API's minimum TLS version: new connections offering only TLS 1.2 are refused.
expect 0 "$RLADMIN" cluster config min_control_TLS_version 1.3
if command -v openssl >/dev/null 2>&1; then
    port=${URL##*:}
    expect 1 sh -c "openssl s_client -connect 127.0.0.1:$port -tls1_2 -CAfile '$REDIS_ENTERPRISE_CA_CERT' </dev/null >/dev/null 2>&1"
    expect 0 sh -c "openssl s_client -connect 127.0.0.1:$port -tls1_3 -CAfile '$REDIS_ENTERPRISE_CA_CERT' -verify_return_error </dev/null >/dev/null 2>&1"
fi

# 4. Replace the proxy certificate while a node is down: 409, safe to retry; then retry.
expect 0 "$RLADMIN" --sandbox "$sandbox" sandbox make-certs "$work/practice"
cd "$work/practice" || exit 1
expect 3 "$RLADMIN" --ca-cert ca.pem cluster certificate show api    # a CA that did not sign the API's certificate
expect 0 "$RLADMIN" -k cluster certificate show api                  # what curl -k does: works, with a warning
expect 0 "$RLADMIN" --sandbox "$sandbox" sandbox node 2 down      # a sandbox shell, same state file
expect 1 "$RLADMIN" cluster certificate set proxy certificate_file good-chain.pem key_file good-key.pem
expect 0 "$RLADMIN" --sandbox "$sandbox" sandbox node 2 up
expect 0 "$RLADMIN" cluster certificate set proxy certificate_file good-chain.pem key_file good-key.pem

# 5. The documentation's curl command (its sed step escapes the PEM newlines for JSON).
if command -v curl >/dev/null 2>&1; then
    expect 0 sh -c 'curl -sS -f --cacert "$REDIS_ENTERPRISE_CA_CERT" -X PUT \
        -u "$REDIS_ENTERPRISE_USER:$REDIS_ENTERPRISE_PASSWORD" -H "Content-Type: application/json" \
        -d "{ \"name\": \"syncer\", \"key\": \"$(sed -z "s/\n/\\\\n/g" good-key.pem)\", \"certificate\": \"$(sed -z "s/\n/\\\\n/g" good-chain.pem)\" }" \
        "$REDIS_ENTERPRISE_URL/v1/cluster/update_cert"; echo'
    expect 0 "$RLADMIN" cluster certificate show syncer
fi

echo "$failures unexpected exit code(s)"
[ "$failures" = 0 ]
