# shellcheck shell=bash
# tls_certs.sh: test certificates made with OpenSSL, for the TLS tests.
#
#   source tests/support/tls_certs.sh; tls_certs DIR
#
# writes into DIR (each NAME.pem with its NAME.key):
#   ca            the test CA ("llmgw test CA")
#   other-ca      an unrelated CA (the "wrong CA")
#   server        a server certificate for 127.0.0.1 and localhost, by ca
#   client        a client certificate "dp-1", by ca
#   rogue         a client certificate by other-ca
#   rogue-server  a server certificate for 127.0.0.1 by other-ca
#   expired       a server certificate by ca, valid only on 2020-01-01
#   expired-client  a client certificate "dp-1" by ca, valid only on 2020-01-01
# Keys are P-256; everything else lives 30 days. Returns non-zero when
# openssl fails.
tls_certs() {
  local d=$1
  mkdir -p "$d" || return 1
  local srv='subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth' cli='extendedKeyUsage=clientAuth'
  _tls_ca "$d" ca "llmgw test CA" && _tls_ca "$d" other-ca "another CA" &&
    _tls_leaf "$d" server ca 127.0.0.1 "$srv" &&
    _tls_leaf "$d" client ca dp-1 "$cli" &&
    _tls_leaf "$d" rogue other-ca rogue "$cli" &&
    _tls_leaf "$d" rogue-server other-ca 127.0.0.1 "$srv" &&
    _tls_leaf "$d" expired ca 127.0.0.1 "$srv" 20200101000000Z 20200102000000Z &&
    _tls_leaf "$d" expired-client ca dp-1 "$cli" 20200101000000Z 20200102000000Z
}

_tls_ca() { # DIR NAME CN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$1/$2.key" -out "$1/$2.pem" -days 30 -subj "/CN=$3" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>"$1/openssl.err" || { cat "$1/openssl.err" >&2; return 1; }
}

# DIR NAME CA CN EXTENSIONS [STARTDATE ENDDATE]: with dates, `openssl ca`
# signs it (x509 -req cannot set a start date in the past).
_tls_leaf() {
  local d=$1 n=$2 ca=$3 cn=$4 ext=$5 start=${6:-} end=${7:-}
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/$n.key" \
    -out "$d/$n.csr" -subj "/CN=$cn" 2>"$d/openssl.err" || { cat "$d/openssl.err" >&2; return 1; }
  printf '%s\n' "$ext" >"$d/$n.ext"
  if [ -z "$start" ]; then
    openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" -CAcreateserial \
      -out "$d/$n.pem" -days 30 -extfile "$d/$n.ext" 2>"$d/openssl.err" ||
      { cat "$d/openssl.err" >&2; return 1; }
    return 0
  fi
  local c=$d/ca-$n
  mkdir -p "$c" && : >"$c/index" && echo 01 >"$c/serial" || return 1
  printf '%s\n' '[ca]' 'default_ca=c' '[c]' "database=$c/index" "serial=$c/serial" \
    "new_certs_dir=$c" 'default_md=sha256' 'policy=p' '[p]' 'commonName=supplied' >"$c/cnf"
  openssl ca -batch -config "$c/cnf" -cert "$d/$ca.pem" -keyfile "$d/$ca.key" -in "$d/$n.csr" \
    -out "$d/$n.pem" -startdate "$start" -enddate "$end" -extfile "$d/$n.ext" -notext \
    2>"$d/openssl.err" || { cat "$d/openssl.err" >&2; return 1; }
}
