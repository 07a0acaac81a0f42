#!/usr/bin/env bash
# Installs what `make bench` needs and a fresh machine may lack: OpenSSH (client and server, the
# baseline), socat (a plain TCP relay, the other baseline), and squid and tinyproxy (the proxies
# the HTTP fallback is measured through). Debian packages only.
set -euo pipefail

missing=()
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v socat >/dev/null 2>&1 || missing+=(socat)
command -v squid >/dev/null 2>&1 || [ -x /usr/sbin/squid ] || missing+=(squid)
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || missing+=(tinyproxy)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "bench-deps: installing ${missing[*]}"
  # Another apt run (unattended upgrades, a parallel setup) may hold the lock: wait for it.
  # DPkg::Lock::Timeout makes install wait for dpkg's lock; update takes the package lists'
  # lock, which it does not wait for, so it is retried for as long.
  for try in $(seq 60); do
    apt-get -o DPkg::Lock::Timeout=600 update -qq && break
    [ "$try" = 60 ] && exit 1
    echo "bench-deps: apt is busy (another apt run holds its lock); retrying in 10 s" >&2
    sleep 10
  done
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# sshd refuses to start without its privilege separation directory.
mkdir -p /run/sshd
chmod 0755 /run/sshd
