#!/bin/sh
# prerm of portcullis-cm, portcullis-cs and portcullis-host: stop and disable the service
# before its unit is removed.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	unit="portcullis-${DPKG_MAINTSCRIPT_PACKAGE#portcullis-}.service"
	systemctl disable --now "$unit" >/dev/null 2>&1 || true
fi
exit 0
