# METADATA
# title: Portcullis default mDAC policy
# description: |
#   Decides who may reach which host, when, how and under which obligations.
#   The Connection Manager queries data.portcullis.authz.decision once per request.
#   Extend it by editing the tables at the top (roles, environments, tenants);
#   the rules below them read only those tables and the input.
#   See README.md beside this file for the input and the decision.
package portcullis.authz

# ---------------------------------------------------------------------------
# Tables: what the organisation decided. Change these, not the rules.
# ---------------------------------------------------------------------------

# actions are the requests the Connection Manager asks about, with their wording.
actions := {
	"connect": "connect to hosts",
	"query_decisions": "query the decision log",
	"administer": "administer Portcullis",
}

# roles maps an identity-provider group to what its members may do.
#   actions:              the actions the group grants.
#   hosts:                tag selectors; a host matches a selector when it carries every
#                         key=value of it ({} matches every host). Needed for "connect".
#   channels:             the channel kinds a session may open.
#   forward_targets:      HOST:PORT targets a "forward" channel may reach.
#   max_duration_seconds: the longest session (default_max_duration_seconds if absent).
#   window:               optional; the group may connect only on these days between
#                         start and end (start before end, same day) in time_zone.
#   forbidden:            action -> why members of the group never get it, whatever
#                         their other groups grant (separation of duties).
roles := {
	"ops": {
		"actions": {"connect"},
		"hosts": [{"env": "prod"}, {"env": "staging"}],
		"channels": ["shell", "exec", "sftp", "forward"],
		"forward_targets": ["localhost:5432", "localhost:8080"],
		"max_duration_seconds": 28800, # 8 h
	},
	"contractors": {
		"actions": {"connect"},
		"hosts": [{"env": "staging"}],
		"channels": ["shell"],
		"max_duration_seconds": 7200, # 2 h
		"window": {
			"days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
			"start": "08:00",
			"end": "18:00",
			"time_zone": "Europe/Copenhagen",
		},
	},
	"auditors": {
		"actions": {"query_decisions"},
		"forbidden": {"connect": "auditors review the decision log and never connect to hosts"},
	},
	"portcullis-admins": {"actions": {"query_decisions", "administer"}},
}

default_max_duration_seconds := 3600 # 1 h

# environments maps a host's env tag to what connecting to it demands.
#   label:          the word used in reasons.
#   mfa:            the subject must have signed in with MFA (amr contains "mfa").
#   min_encryption: the weakest encryption level allowed.
environments := {
	"prod": {"label": "production", "mfa": true, "min_encryption": "very_high"},
	"staging": {"label": "staging", "min_encryption": "high"},
}

default_min_encryption := "high"

# encryption_rank orders the encryption levels, weakest first.
encryption_rank := {"fast": 1, "medium": 2, "high": 3, "very_high": 4}

# tenants maps a host's tenant to how its sessions are relayed.
#   private_relays_only: only the tenant's own private relays may carry sessions.
#   relay_regions:       when not empty, only relays in these regions.
tenants := {"globex": {"private_relays_only": true}}

# A host tagged confirm=required asks its local user to accept every session.
confirm_tag := "confirm"

# ---------------------------------------------------------------------------
# The decision: always defined, deny unless a grant exists and nothing denies.
# ---------------------------------------------------------------------------

# decision is the one document the Connection Manager reads: allow, the human reasons for
# it (grants when allowed, every denial when not) and the obligations of an allowed session.
decision := {
	"allow": allow,
	"reasons": reasons,
	"obligations": obligations,
}

default allow := false

allow if {
	count(denials) == 0
	count(grants) > 0
}

reasons := sort(grants) if allow

reasons := sort(denials) if not allow

# A refusal carries no obligations.
default obligations := {
	"max_duration_seconds": 0,
	"min_encryption": "",
	"channels": [],
	"forward_targets": [],
	"require_confirm": false,
	"private_relays_only": false,
	"relay_regions": [],
}

obligations := session_obligations if {
	allow
	action == "connect"
}

session_obligations := {
	"max_duration_seconds": max({session_limit(role) | some role in admitting}),
	"min_encryption": min_encryption,
	"channels": sort(granted_channels),
	"forward_targets": sort(forward_targets),
	"require_confirm": object.get(host_tags, confirm_tag, "") == "required",
	"private_relays_only": private_relays_only,
	"relay_regions": sort(object.get(tenants, [tenant, "relay_regions"], [])),
}

# ---------------------------------------------------------------------------
# Facts about the request, with defaults so that every rule stays defined.
# ---------------------------------------------------------------------------

default action := ""

action := input.request.action

subject_named if input.subject.id != ""

default who := "an unidentified subject"

who := input.subject.id if subject_named

groups := {g | some g in input.subject.groups}

member_roles := {name: roles[name] | some name in groups}

default host_name := "the host"

host_name := input.host.name if input.host.name != ""

default host_tags := {}

host_tags := input.host.tags if is_object(input.host.tags)

default tenant := ""

tenant := input.host.tenant

requested_channels := {c | some c in input.request.channels}

# Written as its own rule: `not "mfa" in input.subject.amr` would be undefined, not true,
# when the token carries no amr claim at all.
signed_in_with_mfa if "mfa" in input.subject.amr

# ---------------------------------------------------------------------------
# Grants: a reason to allow. One is needed.
# ---------------------------------------------------------------------------

# admitting holds the subject's roles that admit this connection.
admitting[name] := role if {
	action == "connect"
	some name, role in member_roles
	"connect" in role.actions
	reaches(role)
	in_window(role)
}

grants contains msg if {
	some name, role in admitting
	some selector in role.hosts
	selects(selector)
	msg := sprintf("group %s may connect to %s (%s)", [name, host_name, describe_selector(selector)])
}

grants contains msg if {
	action != "connect"
	some name, role in member_roles
	action in role.actions
	msg := sprintf("group %s may %s", [name, actions[action]])
}

reaches(role) if {
	some selector in role.hosts
	selects(selector)
}

selects(selector) if {
	every key, value in selector {
		host_tags[key] == value
	}
}

# ---------------------------------------------------------------------------
# Denials: every reason to refuse. Any one refuses.
# ---------------------------------------------------------------------------

denials := explicit | missing_grant

explicit contains "the request names no subject" if not subject_named

explicit contains msg if {
	count(groups) == 0
	msg := sprintf("%s belongs to no group, and every permission comes from a group", [who])
}

explicit contains msg if {
	not actions[action]
	msg := sprintf("unknown action %v (known: %s)", [action, concat(", ", sort(object.keys(actions)))])
}

explicit contains msg if {
	some name, role in member_roles
	why := role.forbidden[action]
	msg := sprintf("%s is in group %s: %s", [who, name, why])
}

explicit contains msg if {
	action == "connect"
	env := environments[host_tags.env]
	env.mfa
	not signed_in_with_mfa
	msg := sprintf("MFA is required for %s hosts (env=%s): %s signed in without MFA", [env.label, host_tags.env, who])
}

explicit contains msg if {
	action == "connect"
	count(admitting) > 0
	some channel in requested_channels
	not channel in permitted_channels
	msg := sprintf("channel %v is not permitted to %s on %s (permitted: %s)", [channel, who, host_name, concat(", ", sort(permitted_channels))])
}

explicit contains msg if {
	action == "connect"
	level := input.request.encryption
	level != ""
	not encryption_rank[level]
	msg := sprintf("unknown encryption level %v (known: %s)", [level, concat(", ", sort(object.keys(encryption_rank)))])
}

explicit contains msg if {
	action == "connect"
	private_relays_only
	count(input.context.relays) > 0
	not private_relay_available
	msg := sprintf("tenant %s allows only its own private relays, and none is available", [tenant])
}

# refusals explain why each of the subject's connecting roles did not admit the request.
refusals contains msg if {
	action == "connect"
	some name, role in member_roles
	"connect" in role.actions
	not reaches(role)
	msg := sprintf("group %s may connect only to hosts with %s; %s has %s", [name, describe_hosts(role.hosts), host_name, describe_tags(host_tags)])
}

refusals contains msg if {
	action == "connect"
	some name, role in member_roles
	"connect" in role.actions
	reaches(role)
	not in_window(role)
	msg := sprintf("group %s may connect only %s; %s", [name, describe_window(role.window), now_phrase(role.window)])
}

default missing_grant := set()

missing_grant := refusals if {
	count(grants) == 0
	count(refusals) > 0
}

missing_grant := {msg} if {
	count(grants) == 0
	count(refusals) == 0
	count(explicit) == 0
	msg := sprintf("no group of %s (%s) may %s", [who, concat(", ", sort(groups)), actions[action]])
}

# ---------------------------------------------------------------------------
# Obligation parts.
# ---------------------------------------------------------------------------

permitted_channels := {c | some role in admitting; some c in object.get(role, "channels", [])}

granted_channels := requested_channels if count(requested_channels) > 0

else := permitted_channels

forward_targets := {t |
	"forward" in granted_channels
	some role in admitting
	"forward" in role.channels
	some t in object.get(role, "forward_targets", [])
}

# session_limit is the role's longest session, cut at the end of its window.
session_limit(role) := object.get(role, "max_duration_seconds", default_max_duration_seconds) if not role.window

session_limit(role) := min({object.get(role, "max_duration_seconds", default_max_duration_seconds), window_remaining(role.window)}) if role.window

required_encryption := object.get(environments, [object.get(host_tags, "env", ""), "min_encryption"], default_min_encryption)

# min_encryption is the stronger of what the environment demands and what the Guest asked for.
min_encryption := level if {
	levels := {required_encryption} | {l | l := input.request.encryption; encryption_rank[l]}
	strongest := max({encryption_rank[l] | some l in levels})
	some level in levels
	encryption_rank[level] == strongest
}

private_relays_only := object.get(tenants, [tenant, "private_relays_only"], false)

private_relay_available if {
	some relay in input.context.relays
	relay.private == true
	relay.owner == tenant
}

# ---------------------------------------------------------------------------
# Time windows, evaluated in the window's time zone.
# ---------------------------------------------------------------------------

request_ns := time.parse_rfc3339_ns(input.context.time)

in_window(role) if not role.window

in_window(role) if window_open(role.window)

window_open(window) if {
	now := local_now(window.time_zone)
	now.day in window.days
	clock_seconds(window.start) <= now.seconds
	now.seconds < clock_seconds(window.end)
}

# window_remaining is how many seconds an open window stays open.
window_remaining(window) := clock_seconds(window.end) - local_now(window.time_zone).seconds

# local_now is the request time as weekday, seconds since midnight and a label, in tz.
local_now(tz) := {"day": day, "seconds": ((c[0] * 3600) + (c[1] * 60)) + c[2], "label": sprintf("%s %02d:%02d", [day, c[0], c[1]])} if {
	c := time.clock([request_ns, tz])
	day := time.weekday([request_ns, tz])
}

clock_seconds(hhmm) := (to_number(parts[0]) * 3600) + (to_number(parts[1]) * 60) if parts := split(hhmm, ":")

now_phrase(window) := sprintf("it is %s there", [now.label]) if now := local_now(window.time_zone)

else := "the request carries no valid time"

describe_window(window) := sprintf("%s %s–%s %s", [describe_days(window.days), window.start, window.end, window.time_zone])

describe_days(days) := "Monday–Friday" if days == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

else := concat(", ", days)

# ---------------------------------------------------------------------------
# Wording.
# ---------------------------------------------------------------------------

describe_selector(selector) := "any host" if count(selector) == 0

else := describe_tags(selector)

describe_hosts(selectors) := concat(" or ", sort([describe_selector(s) | some s in selectors]))

describe_tags(tags) := "no tags" if count(tags) == 0

else := concat(", ", sort([sprintf("%s=%v", [k, v]) | some k, v in tags]))
