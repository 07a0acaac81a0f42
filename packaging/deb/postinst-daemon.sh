#!/bin/sh
# postinst of portcullis-cm, portcullis-cs and portcullis-host: let systemd see the unit. The
# service is neither enabled nor started: it needs certificates and a configuration first
# (docs/install.md); on upgrade a running service is restarted.
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	unit="portcullis-${DPKG_MAINTSCRIPT_PACKAGE#portcullis-}.service"
	if [ -n "$2" ]; then
		systemctl try-restart "$unit" >/dev/null || true
	fi
fi
exit 0
