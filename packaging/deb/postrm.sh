#!/bin/sh
# postrm of portcullis (which every daemon package depends on, so it is purged last). Purge
# never deletes /var/lib/portcullis (the decision log, the Hosts' identities) nor the keys in
# /etc/portcullis/certs (made by `portcullis certs init`, not by the package). The
# portcullis user and group are removed on purge only when that directory is gone (else its
# files would be left to a reused uid); otherwise they are kept and a note says so.
set -e
if [ "$1" = purge ]; then
	rmdir /etc/portcullis/certs /etc/portcullis 2>/dev/null || true
	if [ -e /etc/portcullis/certs ]; then
		echo "portcullis: kept the keys in /etc/portcullis/certs; remove them by hand (rm -r /etc/portcullis)" >&2
	fi
	if [ -e /var/lib/portcullis ]; then
		rmdir /var/lib/portcullis 2>/dev/null || true
	fi
	if [ -e /var/lib/portcullis ]; then
		echo "portcullis: kept /var/lib/portcullis and the portcullis user; remove them by hand (rm -r /var/lib/portcullis && userdel portcullis)" >&2
	elif getent passwd portcullis >/dev/null; then
		userdel portcullis >/dev/null 2>&1 || true
		if getent group portcullis >/dev/null; then
			groupdel portcullis >/dev/null 2>&1 || true
		fi
	fi
fi
exit 0
