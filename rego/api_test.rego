package portcullis.api_test

import data.portcullis.api

req(id, groups, op) := {
	"subject": {"id": id, "groups": groups, "amr": ["pwd"]},
	"host": {},
	"request": {"action": "administer", "operation": op},
	"context": {"time": "2025-06-03T08:00:00Z"},
}

test_dave_the_admin_may_do_everything if {
	every op, _ in api.operations {
		d := api.decision with input as req("dave@example.com", ["portcullis-admins"], op)
		d.allow
	}
}

test_carol_the_auditor_reads_but_does_not_change if {
	every op in {"hosts.list", "relays.list", "decisions.read", "decisions.query", "sessions.list", "locks.list"} {
		d := api.decision with input as req("carol@example.com", ["auditors"], op)
		d.allow
		d.reasons == [sprintf("group auditors may %s", [api.operations[op]])]
	}
	every op in {"enrollment_tokens.create", "hosts.disable", "hosts.enable", "hosts.delete", "locks.create", "locks.remove", "sessions.reevaluate"} {
		d := api.decision with input as req("carol@example.com", ["auditors"], op)
		not d.allow
		d.reasons == [sprintf("no group of carol@example.com (auditors) may %s", [api.operations[op]])]
	}
}

test_alice_of_ops_may_not_administer if {
	d := api.decision with input as req("alice@example.com", ["ops"], "enrollment_tokens.create")
	not d.allow
	d.reasons == ["no group of alice@example.com (ops) may create host enrollment tokens"]
}

test_unknown_operation_is_refused if {
	d := api.decision with input as req("dave@example.com", ["portcullis-admins"], "hosts.format")
	not d.allow
	some r in d.reasons
	startswith(r, "unknown API operation hosts.format (known: decisions.query, ")
}

test_no_subject_is_refused if {
	d := api.decision with input as req("", ["portcullis-admins"], "hosts.list")
	not d.allow
	"the request names no subject" in d.reasons
	e := api.decision with input as req("", [], "hosts.list")
	"no group of an unidentified subject () may list hosts" in e.reasons
}

test_mfa_can_be_required_per_operation if {
	d := api.decision with input as req("dave@example.com", ["portcullis-admins"], "hosts.delete")
		with api.mfa_required as {"hosts.delete"}
	not d.allow
	d.reasons == ["delete hosts requires a multi-factor sign-in: dave@example.com signed in without MFA"]
	mfa := object.union(req("dave@example.com", ["portcullis-admins"], "hosts.delete"), {"subject": {"id": "dave@example.com", "groups": ["portcullis-admins"], "amr": ["pwd", "mfa"]}})
	ok := api.decision with input as mfa with api.mfa_required as {"hosts.delete"}
	ok.allow
}

test_request_without_operation_is_refused if {
	d := api.decision with input as {"subject": {"id": "dave@example.com", "groups": ["portcullis-admins"], "amr": []}, "host": {}, "request": {"action": "administer"}, "context": {}}
	not d.allow
	some r in d.reasons
	startswith(r, "unknown API operation  (known: ")
}
