package system.log_test

import data.system.log

record(ctx) := {
	"decision_id": "dec-1",
	"path": "portcullis/authz/decision",
	"input": {
		"subject": {"id": "alice@example.com", "name": "Alice", "email": "alice@example.com", "groups": ["ops"], "amr": ["mfa"]},
		"host": {"name": "db-1"},
		"request": {"action": "connect"},
		"context": ctx,
	},
}

test_email_and_name_are_erased if {
	masks := log.mask with input as record({})
	masks == {"/input/subject/email", "/input/subject/name"}
}

test_ipv4_guest_address_keeps_its_24 if {
	masks := log.mask with input as record({"guest_addr": "203.0.113.7"})
	{"op": "upsert", "path": "/input/context/guest_addr", "value": "203.0.113.0/24"} in masks
	not "/input/context/guest_addr" in masks
}

test_ipv6_guest_address_keeps_its_48 if {
	masks := log.mask with input as record({"guest_addr": "2001:db8:1:2::7"})
	{"op": "upsert", "path": "/input/context/guest_addr", "value": "2001:db8:1::/48"} in masks
}

test_unparsable_guest_address_is_erased if {
	masks := log.mask with input as record({"guest_addr": "somewhere"})
	"/input/context/guest_addr" in masks
}
