#!/bin/sh
# Every Portcullis package's preinst: the portcullis system user and group exist before any of
# the package's files (owned by them) are unpacked.
set -e
if [ "$1" = install ] || [ "$1" = upgrade ]; then
	if ! getent group portcullis >/dev/null; then
		groupadd --system portcullis
	fi
	if ! getent passwd portcullis >/dev/null; then
		useradd --system --gid portcullis --home-dir /var/lib/portcullis --no-create-home \
			--shell /usr/sbin/nologin --comment "Portcullis daemons" portcullis
	fi
fi
exit 0
