#!/bin/sh
# postrm of portcullis-cm, portcullis-cs and portcullis-host.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
exit 0
