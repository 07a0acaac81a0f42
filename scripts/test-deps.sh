#!/usr/bin/env bash
# Installs what `make test` needs and a fresh machine may lack. Debian packages only.
set -euo pipefail

need_pg() {
  command -v initdb >/dev/null 2>&1 && return 1
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 1
  return 0
}

missing=()
need_pg && missing+=(postgresql)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
# The README's walkthrough (run by an end-to-end test) waits for the CM with curl.
command -v curl >/dev/null 2>&1 || missing+=(curl)
# The HTTP fallback of the relay is tested through real proxies that forward only plain HTTP.
command -v squid >/dev/null 2>&1 || [ -x /usr/sbin/squid ] || missing+=(squid)
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || missing+=(tinyproxy)
# Several CM replicas are tested behind a real load balancer.
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
# The web console is tested in a real browser (internal/e2e drives it with chromedp).
# Without recommended packages, so name the fonts its pages are measured in.
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "test-deps: installing ${missing[*]}"
  # Another apt run (unattended upgrades, a parallel setup) may hold the lock: wait for it.
  # DPkg::Lock::Timeout makes install wait for dpkg's lock; update takes the package lists'
  # lock, which it does not wait for, so it is retried for as long.
  for try in $(seq 60); do
    apt-get -o DPkg::Lock::Timeout=600 update -qq && break
    [ "$try" = 60 ] && exit 1
    echo "test-deps: apt is busy (another apt run holds its lock); retrying in 10 s" >&2
    sleep 10
  done
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# PostgreSQL refuses to run as root: the tests start it as this user.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
fi
