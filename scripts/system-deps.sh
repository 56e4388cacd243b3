#!/usr/bin/env bash
# Debian packages the test suite needs: a browser for the page tests, Poppler and NSS tools to
# check signed PDFs the way outside verifiers do, CJK fonts for the bilingual licence, a QR reader.
set -euo pipefail
pkgs=(chromium poppler-utils libnss3-tools fonts-wqy-microhei fonts-arphic-uming zbar-tools)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages; install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
