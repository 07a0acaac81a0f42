# Tests of the default policy, named after the stories in SCENARIOS.md they prove.
package portcullis.authz_test

import data.portcullis.authz

# ---------------------------------------------------------------------------
# The cast.
# ---------------------------------------------------------------------------

alice := {"id": "alice@example.com", "name": "Alice", "email": "alice@example.com", "groups": ["ops"], "amr": ["pwd", "mfa"]}

alice_without_mfa := object.union(alice, {"amr": ["pwd"]})

bob := {"id": "bob@example.com", "name": "Bob", "groups": ["contractors"], "amr": ["pwd"]}

carol := {"id": "carol@example.com", "name": "Carol", "groups": ["auditors"], "amr": ["pwd", "mfa"]}

dave := {"id": "dave@example.com", "name": "Dave", "groups": ["portcullis-admins"], "amr": ["pwd", "mfa"]}

mallory := {"id": "mallory@example.com", "name": "Mallory", "groups": [], "amr": ["pwd"]}

web_1 := {"id": "h-web-1", "name": "web-1", "tenant": "acme", "os": "linux", "tags": {"env": "staging", "team": "web"}, "online": true}

db_1 := {"id": "h-db-1", "name": "db-1", "tenant": "acme", "os": "linux", "tags": {"env": "prod", "team": "data"}, "online": true}

kiosk_7 := {"id": "h-kiosk-7", "name": "kiosk-7", "tenant": "globex", "os": "linux", "tags": {"env": "prod", "site": "store-7"}, "online": true}

vendor_relays := [
	{"id": "cs-eu-1", "region": "eu-north", "owner": "vendor", "private": false},
	{"id": "cs-us-1", "region": "us-east", "owner": "vendor", "private": false},
]

relays := array.concat(vendor_relays, [{"id": "cs-globex-1", "region": "eu-west", "owner": "globex", "private": true}])

# 2025-06-03 is a Tuesday; Copenhagen is on CEST (UTC+2) then, and on CET (UTC+1) in January.
tuesday_1000 := "2025-06-03T10:00:00+02:00"

tuesday_2200 := "2025-06-03T22:00:00+02:00"

# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------

connect(subject, host, at) := {
	"subject": subject,
	"host": host,
	"request": {"action": "connect"},
	"context": {"time": at, "guest_addr": "203.0.113.7", "region": "eu-north", "relays": relays},
}

connect_with(subject, host, request) := object.union(connect(subject, host, tuesday_1000), {"request": object.union({"action": "connect"}, request)})

ask(subject, action) := {"subject": subject, "host": {}, "request": {"action": action}, "context": {"time": tuesday_1000}}

decide(request) := d if {
	d := authz.decision with input as request
}

says(d, text) if {
	some reason in d.reasons
	contains(reason, text)
}

refused(d) if {
	d.allow == false
	count(d.reasons) > 0
	d.obligations.channels == []
	d.obligations.max_duration_seconds == 0
}

# ---------------------------------------------------------------------------
# Story 1: alice connects to db-1 with MFA.
# ---------------------------------------------------------------------------

test_alice_with_mfa_reaches_db_1 if {
	d := decide(connect(alice, db_1, tuesday_1000))
	d.allow == true
	d.reasons == ["group ops may connect to db-1 (env=prod)"]
	d.obligations.min_encryption == "very_high"
	d.obligations.max_duration_seconds == 8 * 3600
	d.obligations.channels == ["exec", "forward", "sftp", "shell"]
	d.obligations.forward_targets == ["localhost:5432", "localhost:8080"]
	d.obligations.private_relays_only == false
	d.obligations.require_confirm == false
	d.obligations.relay_regions == []
}

test_alice_reaches_db_1_at_night_too if {
	d := decide(connect(alice, db_1, tuesday_2200))
	d.allow == true
}

# ---------------------------------------------------------------------------
# Story 2: alice without MFA connects to db-1.
# ---------------------------------------------------------------------------

test_alice_without_mfa_is_refused_on_db_1 if {
	d := decide(connect(alice_without_mfa, db_1, tuesday_1000))
	refused(d)
	says(d, "MFA is required for production")
	count(d.reasons) == 1
}

test_alice_without_mfa_reaches_staging if {
	d := decide(connect(alice_without_mfa, web_1, tuesday_1000))
	d.allow == true
	d.obligations.min_encryption == "high"
}

test_subject_without_amr_is_refused_on_prod if {
	d := decide(connect(object.remove(alice, ["amr"]), db_1, tuesday_1000))
	refused(d)
	says(d, "MFA is required for production")
}

# ---------------------------------------------------------------------------
# Story 3: bob connects to web-1 on a Tuesday at 10:00 Copenhagen time.
# ---------------------------------------------------------------------------

test_bob_on_tuesday_morning_reaches_web_1_for_two_hours_of_shell if {
	d := decide(connect(bob, web_1, tuesday_1000))
	d.allow == true
	d.reasons == ["group contractors may connect to web-1 (env=staging)"]
	d.obligations.max_duration_seconds == 2 * 3600
	d.obligations.channels == ["shell"]
	d.obligations.forward_targets == []
	d.obligations.min_encryption == "high"
}

test_bob_in_winter_is_judged_in_copenhagen_time if {
	# 07:30 UTC is 08:30 in Copenhagen (CET): inside the window although outside it in UTC.
	d := decide(connect(bob, web_1, "2025-01-07T07:30:00Z"))
	d.allow == true
}

test_bob_at_eight_sharp_is_allowed if {
	d := decide(connect(bob, web_1, "2025-06-03T08:00:00+02:00"))
	d.allow == true
}

test_bob_late_afternoon_session_ends_with_the_window if {
	d := decide(connect(bob, web_1, "2025-06-03T17:30:00+02:00"))
	d.allow == true
	d.obligations.max_duration_seconds == 30 * 60
}

test_bob_may_use_only_shell if {
	d := decide(connect_with(bob, web_1, {"channels": ["shell", "exec"]}))
	refused(d)
	d.reasons == ["channel exec is not permitted to bob@example.com on web-1 (permitted: shell)"]
}

test_bob_asking_for_shell_gets_shell if {
	d := decide(connect_with(bob, web_1, {"channels": ["shell"]}))
	d.allow == true
	d.obligations.channels == ["shell"]
}

# ---------------------------------------------------------------------------
# Story 4: bob at 22:00.
# ---------------------------------------------------------------------------

test_bob_at_night_is_refused_and_told_the_window if {
	d := decide(connect(bob, web_1, tuesday_2200))
	refused(d)
	says(d, "08:00–18:00 Europe/Copenhagen")
	d.reasons == ["group contractors may connect only Monday–Friday 08:00–18:00 Europe/Copenhagen; it is Tuesday 22:00 there"]
}

test_bob_at_night_in_utc_is_refused if {
	# 20:00 UTC is 22:00 in Copenhagen (CEST).
	d := decide(connect(bob, web_1, "2025-06-03T20:00:00Z"))
	refused(d)
	says(d, "it is Tuesday 22:00 there")
}

test_bob_at_six_pm_sharp_is_refused if {
	d := decide(connect(bob, web_1, "2025-06-03T18:00:00+02:00"))
	refused(d)
}

test_bob_on_saturday_is_refused if {
	d := decide(connect(bob, web_1, "2025-06-07T10:00:00+02:00"))
	refused(d)
	says(d, "it is Saturday 10:00 there")
}

test_bob_without_a_time_is_refused if {
	d := decide(object.remove(connect(bob, web_1, tuesday_1000), ["context"]))
	refused(d)
	says(d, "the request carries no valid time")
}

test_bob_with_a_garbled_time_is_refused if {
	d := decide(connect(bob, web_1, "Tuesday morning"))
	refused(d)
	says(d, "the request carries no valid time")
}

test_bob_on_db_1_is_refused_for_the_host_and_for_mfa if {
	d := decide(connect(bob, db_1, tuesday_1000))
	refused(d)
	says(d, "MFA is required for production")
	says(d, "group contractors may connect only to hosts with env=staging; db-1 has env=prod, team=data")
}

# ---------------------------------------------------------------------------
# Story 5: carol connects to anything; carol queries the decision log.
# ---------------------------------------------------------------------------

test_carol_may_not_connect if {
	every host in [web_1, db_1, kiosk_7] {
		d := decide(connect(carol, host, tuesday_1000))
		refused(d)
		d.reasons == ["carol@example.com is in group auditors: auditors review the decision log and never connect to hosts"]
	}
}

test_carol_in_ops_too_still_may_not_connect if {
	d := decide(connect(object.union(carol, {"groups": ["auditors", "ops"]}), web_1, tuesday_1000))
	refused(d)
	says(d, "auditors review the decision log and never connect to hosts")
}

test_carol_queries_the_decision_log if {
	d := decide(ask(carol, "query_decisions"))
	d.allow == true
	d.reasons == ["group auditors may query the decision log"]
	d.obligations.channels == []
	d.obligations.max_duration_seconds == 0
}

test_carol_may_not_administer if {
	d := decide(ask(carol, "administer"))
	refused(d)
	d.reasons == ["no group of carol@example.com (auditors) may administer Portcullis"]
}

# ---------------------------------------------------------------------------
# Story 6: mallory (no group) gets nowhere.
# ---------------------------------------------------------------------------

test_mallory_may_not_query_the_decision_log if {
	d := decide(ask(mallory, "query_decisions"))
	refused(d)
	d.reasons == ["mallory@example.com belongs to no group, and every permission comes from a group"]
}

test_mallory_may_not_connect if {
	every host in [web_1, db_1, kiosk_7] {
		d := decide(connect(mallory, host, tuesday_1000))
		refused(d)
		says(d, "mallory@example.com belongs to no group")
	}
}

test_mallory_without_a_groups_claim_is_refused if {
	d := decide(connect(object.remove(mallory, ["groups"]), web_1, tuesday_1000))
	refused(d)
	says(d, "belongs to no group")
}

test_unknown_groups_grant_nothing if {
	d := decide(connect(object.union(mallory, {"groups": ["interns"]}), web_1, tuesday_1000))
	refused(d)
	d.reasons == ["no group of mallory@example.com (interns) may connect to hosts"]
}

# ---------------------------------------------------------------------------
# Story 7: alice connects to kiosk-7, through globex's private relay only.
# ---------------------------------------------------------------------------

test_alice_reaches_kiosk_7_through_private_relays_only if {
	d := decide(connect(alice, kiosk_7, tuesday_1000))
	d.allow == true
	d.obligations.private_relays_only == true
	d.obligations.min_encryption == "very_high"
}

test_kiosk_7_is_refused_when_only_vendor_relays_are_up if {
	request := object.union(connect(alice, kiosk_7, tuesday_1000), {"context": {"time": tuesday_1000, "relays": vendor_relays}})
	d := decide(request)
	refused(d)
	d.reasons == ["tenant globex allows only its own private relays, and none is available"]
}

test_kiosk_7_relay_choice_is_left_to_the_cm_when_no_candidates_are_given if {
	d := decide(object.union(connect(alice, kiosk_7, tuesday_1000), {"context": {"time": tuesday_1000}}))
	d.allow == true
	d.obligations.private_relays_only == true
}

test_acme_hosts_may_use_vendor_relays if {
	d := decide(connect(alice, web_1, tuesday_1000))
	d.obligations.private_relays_only == false
}

# ---------------------------------------------------------------------------
# dave, the administrator.
# ---------------------------------------------------------------------------

test_dave_administers if {
	d := decide(ask(dave, "administer"))
	d.allow == true
	d.reasons == ["group portcullis-admins may administer Portcullis"]
}

test_dave_may_not_connect if {
	d := decide(connect(dave, web_1, tuesday_1000))
	refused(d)
	d.reasons == ["no group of dave@example.com (portcullis-admins) may connect to hosts"]
}

# ---------------------------------------------------------------------------
# Edge cases.
# ---------------------------------------------------------------------------

test_the_decision_is_defined_for_an_empty_input if {
	d := decide({})
	refused(d)
	says(d, "the request names no subject")
	says(d, "an unidentified subject belongs to no group")
	says(d, "unknown action")
}

test_the_decision_always_has_its_three_members if {
	every request in [connect(alice, db_1, tuesday_1000), connect(bob, web_1, tuesday_2200), ask(mallory, "nope"), {}] {
		object.keys(decide(request)) == {"allow", "reasons", "obligations"}
		object.keys(decide(request).obligations) == {
			"max_duration_seconds", "min_encryption", "channels", "forward_targets",
			"require_confirm", "private_relays_only", "relay_regions",
		}
	}
}

test_an_unknown_action_is_refused if {
	d := decide(ask(alice, "reboot"))
	refused(d)
	d.reasons == ["unknown action reboot (known: administer, connect, query_decisions)"]
}

test_a_member_of_two_groups_gets_the_wider_grant if {
	d := decide(connect(object.union(bob, {"groups": ["contractors", "ops"]}), web_1, tuesday_2200))
	d.allow == true
	d.obligations.max_duration_seconds == 8 * 3600
	d.obligations.channels == ["exec", "forward", "sftp", "shell"]
}

test_a_member_of_two_groups_in_the_window_gets_the_longer_session if {
	d := decide(connect(object.union(bob, {"groups": ["contractors", "ops"]}), web_1, "2025-06-03T17:30:00+02:00"))
	d.allow == true
	d.obligations.max_duration_seconds == 8 * 3600
	count(d.reasons) == 2
}

test_a_host_without_tags_is_reached_by_no_one if {
	d := decide(connect(alice, {"name": "lab-3", "tenant": "acme"}, tuesday_1000))
	refused(d)
	d.reasons == ["group ops may connect only to hosts with env=prod or env=staging; lab-3 has no tags"]
}

test_a_host_without_a_name_is_called_the_host if {
	d := decide(connect(alice, object.remove(db_1, ["name"]), tuesday_1000))
	d.reasons == ["group ops may connect to the host (env=prod)"]
}

test_a_host_may_demand_local_confirmation if {
	d := decide(connect(alice, object.union(web_1, {"tags": {"env": "staging", "confirm": "required"}}), tuesday_1000))
	d.allow == true
	d.obligations.require_confirm == true
}

test_requested_channels_narrow_the_obligations if {
	d := decide(connect_with(alice, db_1, {"channels": ["sftp", "sftp"]}))
	d.allow == true
	d.obligations.channels == ["sftp"]
	d.obligations.forward_targets == []
}

test_a_forward_request_carries_the_forward_targets if {
	d := decide(connect_with(alice, db_1, {"channels": ["forward"]}))
	d.obligations.channels == ["forward"]
	d.obligations.forward_targets == ["localhost:5432", "localhost:8080"]
}

test_an_unknown_channel_is_refused if {
	d := decide(connect_with(alice, db_1, {"channels": ["x11"]}))
	refused(d)
	says(d, "channel x11 is not permitted")
}

test_stronger_requested_encryption_raises_the_minimum if {
	d := decide(connect_with(alice, web_1, {"encryption": "very_high"}))
	d.obligations.min_encryption == "very_high"
}

test_weaker_requested_encryption_does_not_lower_the_minimum if {
	d := decide(connect_with(alice, db_1, {"encryption": "medium"}))
	d.allow == true
	d.obligations.min_encryption == "very_high"
}

test_an_unknown_encryption_level_is_refused if {
	d := decide(connect_with(alice, web_1, {"encryption": "rot13"}))
	refused(d)
	d.reasons == ["unknown encryption level rot13 (known: fast, high, medium, very_high)"]
}

test_fast_is_granted_only_where_an_environment_allows_it if {
	lab := object.union(authz.environments, {"lab": {"label": "lab", "min_encryption": "fast"}})
	custom := {"ops": {"actions": {"connect"}, "hosts": [{"env": "lab"}], "channels": ["exec"]}}
	lab_3 := {"name": "lab-3", "tags": {"env": "lab"}}
	fast := decide(connect_with(alice, lab_3, {"encryption": "fast"})) with authz.roles as custom with authz.environments as lab
	fast.allow == true
	fast.obligations.min_encryption == "fast"
	stronger := decide(connect_with(alice, lab_3, {"encryption": "very_high"})) with authz.roles as custom with authz.environments as lab
	stronger.obligations.min_encryption == "very_high"
	# Elsewhere a Guest asking for fast gets the environment's minimum, which it then refuses.
	staging := decide(connect_with(alice, web_1, {"encryption": "fast"}))
	staging.obligations.min_encryption == "high"
}

test_a_host_outside_the_known_environments_gets_the_default_encryption if {
	custom := {"ops": {"actions": {"connect"}, "hosts": [{}]}}
	d := decide(connect(alice, {"name": "lab-3", "tags": {"env": "lab"}}, tuesday_1000)) with authz.roles as custom
	d.allow == true
	d.reasons == ["group ops may connect to lab-3 (any host)"]
	d.obligations.min_encryption == "high"
	d.obligations.max_duration_seconds == 3600
	d.obligations.channels == []
}

test_windows_may_name_any_days if {
	weekend := {"days": ["Saturday", "Sunday"], "start": "09:00", "end": "10:30", "time_zone": "UTC"}
	custom := {"weekenders": {"actions": {"connect"}, "hosts": [{"env": "staging"}], "channels": ["shell"], "window": weekend}}
	subject := object.union(bob, {"groups": ["weekenders"]})
	refusal := decide(connect(subject, web_1, tuesday_1000)) with authz.roles as custom
	refusal.reasons == ["group weekenders may connect only Saturday, Sunday 09:00–10:30 UTC; it is Tuesday 08:00 there"]
	grant := decide(connect(subject, web_1, "2025-06-07T10:00:00Z")) with authz.roles as custom
	grant.allow == true
	grant.obligations.max_duration_seconds == 30 * 60
}

test_tenants_may_pin_relay_regions if {
	custom := {"acme": {"relay_regions": ["eu-west", "eu-north"]}}
	d := decide(connect(alice, web_1, tuesday_1000)) with authz.tenants as custom
	d.obligations.relay_regions == ["eu-north", "eu-west"]
	d.obligations.private_relays_only == false
}
