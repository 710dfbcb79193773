#!/bin/sh
# The certificate walkthrough (README.md) on a temporary sandbox: every step, with exit codes.
# Nothing outside a new temporary directory is touched; its keys are throwaway practice keys.
#   sh walkthrough.sh            (RLADMIN=/path/to/rladmin-py to use another build)
set -u
RLADMIN=${RLADMIN:-rladmin-py}
work=$(mktemp -d "${TMPDIR:-/tmp}/rladmin-certs.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work" || exit 1

step() {
    echo "\$ rladmin-py $*"
    "$RLADMIN" --sandbox "$work/sandbox.json" "$@"
    echo "[exit $?]"
    echo
}

step sandbox make-certs practice
cd practice || exit 1
step cluster certificate show proxy
step --dry-run cluster certificate set proxy certificate_file good-chain.pem key_file good-key.pem
step cluster certificate set proxy certificate_file good-chain.pem key_file good-key.pem
step cluster certificate set proxy certificate_file good-chain.pem

# the refusals: exit 1, one line on stderr, nothing changed
step cluster certificate set proxy certificate_file expired-chain.pem key_file good-key.pem
step cluster certificate set proxy certificate_file not-yet-valid-chain.pem key_file good-key.pem
step cluster certificate set proxy certificate_file good-chain.pem key_file wrong-key.pem
step cluster certificate set proxy certificate_file wrong-order-chain.pem key_file good-key.pem
step cluster certificate set proxy certificate_file truncated-chain.pem key_file good-key.pem
step cluster certificate set proxy certificate_file good-key.pem key_file good-chain.pem
step cluster certificate set proxy certificate_file weak-rsa1024-chain.pem key_file weak-rsa1024-key.pem
step cluster certificate set proxy certificate_file good-chain.pem key_file encrypted-key.pem
step cluster certificate set proxy certificate_file good-cert.der key_file good-key.pem
step cluster certificate set proxy certificate_file bundle.pfx
step cluster certificate set internal dpine_certificate_file good-chain.pem dpine_key_file good-key.pem \
    cpine_certificate_file ecdsa-chain.pem cpine_key_file ecdsa-key.pem

# fixing two of them with the commands the refusals print (needs openssl)
if command -v openssl >/dev/null 2>&1; then
    openssl pkey -in encrypted-key.pem -out encrypted-key-unencrypted.pem -passin pass:practice
    step cluster certificate set proxy certificate_file good-chain.pem key_file encrypted-key-unencrypted.pem
    openssl pkcs12 -in bundle.pfx -nodes -out bundle.pem -passin pass:practice 2>/dev/null ||
        openssl pkcs12 -legacy -in bundle.pfx -nodes -out bundle.pem -passin pass:practice
    step cluster certificate set proxy certificate_file bundle.pem
fi
step cluster certificate set proxy certificate_file pfx-converted.pem

# warnings, and --strict
step cluster certificate set proxy certificate_file no-wildcard-chain.pem key_file good-key.pem
step --strict cluster certificate set proxy certificate_file expiring-soon-chain.pem key_file good-key.pem
step --json cluster certificate show proxy
