#!/bin/bash
# Make a throw-away PKI for the TLS tests in DIR (no private key is committed):
#   ca.pem                 the test CA (ssl_options.cacertfile)
#   server.pem/.key        CN=localhost, SAN localhost, 127.0.0.1, ::1, signed by the CA
#   client.pem/.key        CN=guest,  O=WarrenTest  (valid; EXTERNAL logs in as guest)
#   stranger.pem/.key      CN=nobody, O=WarrenTest  (valid; no such user)
#   expired.pem/.key       CN=guest, expired in 2020
#   otherca-client.pem/.key CN=guest, signed by another CA the broker does not trust
#   otherca.pem            that other CA
# usage: gen-certs.sh DIR
set -euo pipefail
dir=${1:?usage: gen-certs.sh DIR}
mkdir -p "$dir" && cd "$dir"
q() { "$@" >/dev/null 2>&1 || { echo "gen-certs: failed: $*" >&2; "$@"; exit 1; }; }
key() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

ca() { # name subject
    key "$1.key"
    q openssl req -x509 -new -key "$1.key" -subj "$2" -days 30 -out "$1.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
# leaf name subject ca ext-file [startdate enddate]
leaf() {
    key "$1.key"
    q openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    if [ $# -ge 6 ]; then # fixed validity (expired certificates) through `openssl ca`
        mkdir -p "ca-$3.db" && : > "ca-$3.db/index.txt" && echo 01 > "ca-$3.db/serial"
        cat > "ca-$3.cnf" <<CNF
[ca]
default_ca = d
[d]
database = ca-$3.db/index.txt
serial = ca-$3.db/serial
new_certs_dir = ca-$3.db
default_md = sha256
policy = p
copy_extensions = none
unique_subject = no
[p]
commonName = supplied
organizationName = optional
CNF
        q openssl ca -batch -config "ca-$3.cnf" -cert "$3.pem" -keyfile "$3.key" -in "$1.csr" -out "$1.pem" \
            -startdate "$5" -enddate "$6" -extfile "$4" -notext
    else
        q openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 30 -sha256 \
            -extfile "$4" -out "$1.pem"
    fi
    rm -f "$1.csr"
}
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n' > server.ext
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n' > client.ext
ca ca "/O=WarrenTest/CN=Warren Test CA"
ca otherca "/O=Elsewhere/CN=Another CA"
leaf server "/O=WarrenTest/CN=localhost" ca server.ext
leaf client "/O=WarrenTest/CN=guest" ca client.ext
leaf stranger "/O=WarrenTest/CN=nobody" ca client.ext
leaf expired "/O=WarrenTest/CN=guest" ca client.ext 20200101000000Z 20200201000000Z
leaf otherca-client "/O=Elsewhere/CN=guest" otherca client.ext
chmod 600 ./*.key
