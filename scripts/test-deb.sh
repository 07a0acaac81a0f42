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
user_existed=no
getent passwd portcullis >/dev/null && user_existed=yes

shopt -s nullglob
# The daemon packages first: a directory one of them would create on its own must still get
# the owner and mode the base package gives it.
debs=("$dir"/portcullis-{cm,cs,host}_*_amd64.deb "$dir"/portcullis_*_amd64.deb)
[ ${#debs[@]} -eq 4 ] || fail "want 4 packages in $dir, found: ${debs[*]:-none}"
(cd "$dir" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the packages"

cleanup() { dpkg --purge portcullis-cm portcullis-cs portcullis-host portcullis >/dev/null 2>&1 || true; }
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
# Each daemon's configuration file is one its command reads: a key it does not know is an error.
/usr/bin/portcullis cm --config /etc/portcullis/cm.yaml --help >/dev/null || fail "cm cannot read cm.yaml"

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
[ ! -e /etc/portcullis ] || fail "dpkg --purge left /etc/portcullis: $(ls -A /etc/portcullis)"
[ ! -e /var/lib/portcullis ] || fail "dpkg --purge left an empty /var/lib/portcullis"
if [ "$user_existed" = no ] && getent passwd portcullis >/dev/null; then
  fail "dpkg --purge left the portcullis user"
fi
step "ok: installed, checked and purged ${#debs[@]} packages"
