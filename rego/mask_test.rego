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

# guest_masks is what the mask does to the Guest's address addr: exactly one instruction.
guest_masks(addr) := {m |
	some m in log.mask with input as record({"guest_addr": addr})
	m != "/input/subject/email"
	m != "/input/subject/name"
}

upsert(network) := {"op": "upsert", "path": "/input/context/guest_addr", "value": network}

test_ipv4_mapped_guest_address_keeps_its_ipv4_24 if {
	guest_masks("::ffff:1.2.3.4") == {upsert("1.2.3.0/24")}
	guest_masks("::FFFF:203.0.113.7") == {upsert("203.0.113.0/24")}
	guest_masks("::ffff:102:304") == {upsert("1.2.3.0/24")}
	guest_masks("0:0:0:0:0:ffff:c000:0207") == {upsert("192.0.2.0/24")}
}

test_plain_ipv4_guest_address_keeps_only_its_24 if {
	guest_masks("1.2.3.4") == {upsert("1.2.3.0/24")}
	guest_masks("255.255.255.255") == {upsert("255.255.255.0/24")}
	guest_masks("0.0.0.0") == {upsert("0.0.0.0/24")}
}

test_ipv6_guest_address_keeps_only_its_48 if {
	guest_masks("2001:db8:1:2::7") == {upsert("2001:db8:1::/48")}
	guest_masks("::1") == {upsert("::/48")}
	guest_masks("::1.2.3.4") == {upsert("::/48")} # IPv4-compatible, not mapped
	guest_masks("::ffff:0:1:2") == {upsert("::/48")} # next to ::ffff:0:0/96, not in it
	guest_masks("64:ff9b::1.2.3.4") == {upsert("64:ff9b::/48")}
}

test_garbage_guest_address_is_erased if {
	every addr in [
		"", "somewhere", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "1.2.3.4/24",
		"::ffff:1.2.3", "::ffff:1.2.3.4/120", "fe80::1%eth0", "::ffff:1.2.3.4:80", " 1.2.3.4", "1.2.3.4:80",
	] {
		guest_masks(addr) == {"/input/context/guest_addr"}
	}
}
