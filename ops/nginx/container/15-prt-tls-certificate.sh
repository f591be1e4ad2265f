#!/bin/sh
# Run by the nginx image's /docker-entrypoint.sh before nginx starts: when no certificate is mounted at
# NGINX_TLS_CERTIFICATE / NGINX_TLS_KEY, makes a self-signed one there (first start only; it is kept in the
# TLS volume). Names: the host of PRT_VIDEODOWNLOADER_HTTPSBASEURL, localhost and 127.0.0.1, plus
# NGINX_TLS_SELFSIGNED_NAMES (e.g. "DNS:other.example,IP:192.0.2.10").
set -eu
certificate=${NGINX_TLS_CERTIFICATE:-/etc/nginx/tls/tls.crt}
key=${NGINX_TLS_KEY:-/etc/nginx/tls/tls.key}
if [ -s "$certificate" ] && [ -s "$key" ]; then
    if [ ! -r "$certificate" ] || [ ! -r "$key" ]; then
        echo "$0: nginx runs as uid $(id -u) and cannot read $certificate or $key: make them readable by it," \
             "e.g. chown $(id -u):$(id -g) both (docs/deployment.md, Certificate)" >&2
        exit 1
    fi
    echo "$0: using the certificate $certificate"
    exit 0
fi
if [ -e "$certificate" ] || [ -e "$key" ]; then
    echo "$0: only one of $certificate and $key exists: provide both, or remove both for a self-signed one" >&2
    exit 1
fi
host=${PRT_VIDEODOWNLOADER_HTTPSBASEURL:-}
host=${host#*://}
host=${host%%/*}
host=${host##*@}
case "$host" in
    \[*\]*) host=${host#\[}; host=${host%%\]*} ;;
    *:*) host=${host%:*} ;;
esac
names="DNS:localhost,IP:127.0.0.1"
case "$host" in
    "" | localhost | 127.0.0.1) ;;
    *[!0-9.]*) case "$host" in *:*) names="IP:$host,$names" ;; *) names="DNS:$host,$names" ;; esac ;;
    *) names="IP:$host,$names" ;;
esac
if [ -n "${NGINX_TLS_SELFSIGNED_NAMES:-}" ]; then
    names="$names,$NGINX_TLS_SELFSIGNED_NAMES"
fi
mkdir -p "$(dirname "$certificate")" "$(dirname "$key")"
if [ ! -w "$(dirname "$certificate")" ] || [ ! -w "$(dirname "$key")" ]; then
    echo "$0: nginx runs as uid $(id -u) and cannot write a self-signed certificate into $(dirname "$certificate"):" \
         "chown that folder to $(id -u):$(id -g), or mount tls.crt and tls.key there" >&2
    exit 1
fi
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=${host:-localhost}" \
    -addext "subjectAltName=$names" -keyout "$key.new" -out "$certificate.new" 2>/dev/null
chmod 0644 "$certificate.new"
mv "$key.new" "$key"
mv "$certificate.new" "$certificate"
echo "$0: no certificate was mounted: made a self-signed one for $names at $certificate"
