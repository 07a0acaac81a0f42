#!/usr/bin/env bash
# Installs the linux/amd64 .deb packages built by `make test-deb` (DIR, default dist-test) into
# this machine, checks what they installed (binary, user, directories, conffiles, systemd units)
# and purges them, checking that nothing is left behind. Needs root (CI runs as root) and an
# amd64 dpkg; refuses to touch a machine where Portcullis packages are already installed.
set -euo pipefail

dir=${1:-dist-test}
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
step() { echo "test-deb: $*"; }

[ "$(id -u)" = 0 ] || fail "needs root to run dpkg -i (CI runs as root)"
[ "$(dpkg --print-architecture)" = amd64 ] || fail "the test packages are built for amd64, this dpkg is $(dpkg --print-architecture)"
if dpkg-query -W -f '${Status}\n' portcullis 2>/dev/null | grep -q 'installed'; then
  fail "a portcullis package is already installed here; the test would replace it"
fi
# The test removes the user, /etc/portcullis and /var/lib/portcullis at the end: it refuses to
# start where any of them is not its own.
for p in /etc/portcullis /var/lib/portcullis; do
  [ ! -e "$p" ] || fail "$p exists; the test would delete it (remove it first if it is left from a failed run)"
done
if getent passwd portcullis >/dev/null || getent group portcullis >/dev/null; then
  fail "a portcullis user or group exists; the test would delete it (userdel portcullis if it is left from a failed run)"
fi

shopt -s nullglob
# The daemon packages first: a directory one of them would create on its own must still get
# the owner and mode the base package gives it.
debs=("$dir"/portcullis-{cm,cs,host}_*_amd64.deb "$dir"/portcullis_*_amd64.deb)
[ ${#debs[@]} -eq 4 ] || fail "want 4 packages in $dir, found: ${debs[*]:-none}"
(cd "$dir" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the packages"

cmpid=
cleanup() {
  [ -z "$cmpid" ] || kill "$cmpid" 2>/dev/null || true
  dpkg --purge portcullis-cm portcullis-cs portcullis-host portcullis >/dev/null 2>&1 || true
  rm -rf /etc/portcullis /var/lib/portcullis
  userdel portcullis >/dev/null 2>&1 || true
  groupdel portcullis >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "dpkg -i ${debs[*]}"
dpkg -i "${debs[@]}" >/dev/null

step "checking the installed files"
for p in portcullis portcullis-cm portcullis-cs portcullis-host; do
  dpkg-query -W -f '${Status}\n' "$p" | grep -q '^install ok installed$' || fail "$p is not installed"
done
/usr/bin/portcullis version | grep -q '^portcullis ' || fail "portcullis version printed: $(/usr/bin/portcullis version)"
getent passwd portcullis >/dev/null || fail "no portcullis user"
[ "$(getent passwd portcullis | cut -d: -f7)" = /usr/sbin/nologin ] || fail "the portcullis user can log in"
uid=$(id -u portcullis)
[ "$uid" -lt 1000 ] || fail "portcullis is not a system user (uid $uid)"
check_owner() { # path owner:group mode
  local got
  got=$(stat -c '%U:%G %a' "$1") || fail "$1 is missing"
  [ "$got" = "$2 $3" ] || fail "$1 is $got, want $2 $3"
}
check_owner /usr/bin/portcullis root:root 755
check_owner /etc/portcullis root:portcullis 750
check_owner /etc/portcullis/certs root:portcullis 750
check_owner /var/lib/portcullis portcullis:portcullis 750
for d in cm cs host; do
  check_owner "/etc/portcullis/$d.yaml" root:portcullis 640
  unit=/usr/lib/systemd/system/portcullis-$d.service
  check_owner "$unit" root:root 644
  grep -qx "ExecStart=/usr/bin/portcullis $d --config /etc/portcullis/$d.yaml" "$unit" || fail "$unit: wrong ExecStart"
  for k in NoNewPrivileges=yes StateDirectory=portcullis/$d User=portcullis; do
    grep -qx "$k" "$unit" || fail "$unit lacks $k"
  done
  grep -qx "/etc/portcullis/$d.yaml" "/var/lib/dpkg/info/portcullis-$d.conffiles" || fail "/etc/portcullis/$d.yaml is not a conffile"
done
for d in cm cs; do
  grep -qx ProtectSystem=strict "/usr/lib/systemd/system/portcullis-$d.service" || fail "portcullis-$d.service is not ProtectSystem=strict"
done
step "following docs/install.md: certificates, then the CM as the portcullis user with cm.yaml"
/usr/bin/portcullis certs init --dir /etc/portcullis/certs --host localhost --algorithm p384 >/dev/null
chgrp -R portcullis /etc/portcullis/certs && chmod -R g+r /etc/portcullis/certs
# What systemd's StateDirectory= does before ExecStart; the CM listens on a free port here and
# serves the development IdP, since cm.yaml names no identity provider yet.
install -d -o portcullis -g portcullis -m 0700 /var/lib/portcullis/cm
cmlog=$(mktemp)
(cd /var/lib/portcullis/cm && PORTCULLIS_LISTEN=127.0.0.1:0 PORTCULLIS_DEV_IDP=true \
  exec setpriv --reuid portcullis --regid portcullis --clear-groups \
  /usr/bin/portcullis cm --config /etc/portcullis/cm.yaml >"$cmlog" 2>&1) &
cmpid=$!
for _ in $(seq 1 300); do
  grep -q '"connection manager listening"' "$cmlog" && break
  kill -0 "$cmpid" 2>/dev/null || break
  sleep 0.1
done
grep -q '"connection manager listening"' "$cmlog" || { cat "$cmlog" >&2; fail "the CM did not start as the portcullis user with the packaged cm.yaml"; }
kill "$cmpid" && wait "$cmpid" || true
cmpid=
pgrep -u portcullis >/dev/null && fail "a process of the portcullis user outlived the CM: $(pgrep -a -u portcullis)"
[ "$(stat -c %U /var/lib/portcullis/cm/portcullis.db)" = portcullis ] || fail "the CM's store is not in /var/lib/portcullis/cm"
rm -f "$cmlog"

if command -v systemd-analyze >/dev/null 2>&1; then
  step "systemd-analyze verify"
  # Without a running systemd, verify may warn about the environment; unit errors still fail.
  out=$(systemd-analyze verify /usr/lib/systemd/system/portcullis-{cm,cs,host}.service 2>&1) || fail "systemd-analyze verify: $out"
  if grep -E 'portcullis-(cm|cs|host)\.service:' <<<"$out" | grep -qv 'Failed to determine'; then
    fail "systemd-analyze verify: $out"
  fi
fi

step "editing a conffile, then removing and purging"
echo "# edited" >>/etc/portcullis/cm.yaml
dpkg --remove portcullis-cm portcullis-cs portcullis-host portcullis >/dev/null
[ ! -e /usr/bin/portcullis ] || fail "dpkg --remove left /usr/bin/portcullis"
[ ! -e /usr/lib/systemd/system/portcullis-cm.service ] || fail "dpkg --remove left the unit"
grep -q '^# edited' /etc/portcullis/cm.yaml || fail "dpkg --remove did not keep the edited conffile"
dpkg --purge portcullis-cm portcullis-cs portcullis-host portcullis >/dev/null
trap - EXIT
for p in portcullis portcullis-cm portcullis-cs portcullis-host; do
  if dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -qv '^unknown ok not-installed$\|^$'; then
    fail "$p is still known to dpkg: $(dpkg-query -W -f '${Status}' "$p")"
  fi
done
[ ! -e /etc/portcullis/cm.yaml ] || fail "dpkg --purge left /etc/portcullis/cm.yaml"
[ -f /etc/portcullis/certs/ca.key ] || fail "dpkg --purge deleted the keys made by portcullis certs init"
# The state (the CM's store) survives a purge, and so do the user and group that own it.
[ -f /var/lib/portcullis/cm/portcullis.db ] || fail "dpkg --purge deleted the CM's store"
getent passwd portcullis >/dev/null || fail "dpkg --purge removed the user that owns /var/lib/portcullis"
# Removing the data by hand as docs/install.md says, a second install and purge leave nothing.
rm -r /var/lib/portcullis /etc/portcullis && userdel portcullis
trap cleanup EXIT
dpkg -i "${debs[@]}" >/dev/null
dpkg --purge portcullis-cm portcullis-cs portcullis-host portcullis >/dev/null
trap - EXIT
[ ! -e /etc/portcullis ] || fail "dpkg --purge left /etc/portcullis: $(ls -A /etc/portcullis)"
[ ! -e /var/lib/portcullis ] || fail "dpkg --purge left an empty /var/lib/portcullis"
if getent passwd portcullis >/dev/null || getent group portcullis >/dev/null; then
  fail "dpkg --purge left the portcullis user or group"
fi
step "ok: installed, checked and purged ${#debs[@]} packages"
