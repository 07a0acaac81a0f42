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

# encryption_rank orders the encryption levels, weakest first. "fast" keeps very_high's SSH
# algorithms end to end but lets the relay legs drop their TLS once the relay has verified the
# tickets (docs/encryption.md): no environment here allows it; one with
# "min_encryption": "fast" would, for Guests and Hosts that run at fast.
encryption_rank := {"fast": 1, "medium": 2, "high": 3, "very_high": 4}

# tenants maps a host's tenant to how its sessions are relayed.
#   private_relays_only: only the tenant's own private relays may carry sessions.
#   relay_regions:       when not empty, only relays in these regions.
tenants := {"globex": {"private_relays_only": true}}

# A host tagged confirm=required asks its local user to accept every session.
confirm_tag := "confirm"

# ---------------------------------------------------------------------------
# Derived tables: the tables above, worked out once. They read no input, so the engine
# evaluates them when the policy loads instead of for every decision (README.md, "Writing
# fast rules"); under `with` (the tests) they follow the tables `with` replaces.
# ---------------------------------------------------------------------------

# connect_roles maps each group whose role grants "connect" to what a session it admits
# gets: its host selectors with their wording, its channels, the targets its "forward"
# channel may reach, its longest session and its window, if it has one.
connect_roles := {name: object.union(object.filter(role, {"window"}), {
	"selectors": [{"tags": s, "words": describe_tags(s, "any host")} | some s in role.hosts],
	"channels": {c | some c in object.get(role, "channels", [])},
	"forward_targets": {t | "forward" in role.channels; some t in object.get(role, "forward_targets", [])},
	"max_duration_seconds": object.get(role, "max_duration_seconds", default_max_duration_seconds),
}) |
	some name, role in roles
	"connect" in role.actions
}

# env_encryption maps an env tag to the weakest encryption its environment allows.
env_encryption := {env: e.min_encryption | some env, e in environments}

# tenant_relaying maps a tenant to how its sessions are relayed; other tenants get no_relaying.
tenant_relaying := {t: {
	"private_relays_only": object.get(cfg, "private_relays_only", false),
	"relay_regions": sort(object.get(cfg, "relay_regions", [])),
} | some t, cfg in tenants}

no_relaying := {"private_relays_only": false, "relay_regions": []}

# ---------------------------------------------------------------------------
# The decision: always defined, deny unless a grant exists and nothing denies.
#
# The rules are written for speed (README.md, "Writing fast rules"): every rule a decision
# touches costs an evaluation, so the allowed path reads few rules, looks everything up by
# key, and the sentences of the denials are only worded when the request is refused.
# ---------------------------------------------------------------------------

# decision is the one document the Connection Manager reads: allow, the human reasons for
# it (grants when allowed, every denial when not) and the obligations of an allowed session.
decision := {"allow": true, "reasons": sort(grants), "obligations": obligations} if allow

else := {"allow": false, "reasons": sort(denials), "obligations": no_obligations}

default allow := false

allow if {
	count(grants) > 0
	count(explicit) == 0
}

# A refusal carries no obligations.
no_obligations := {
	"max_duration_seconds": 0,
	"min_encryption": "",
	"channels": [],
	"forward_targets": [],
	"require_confirm": false,
	"private_relays_only": false,
	"relay_regions": [],
}

# obligations bind an allowed session; other actions carry none.
obligations := {
	"max_duration_seconds": max({session_limit(role) | some role in admitting}),
	"min_encryption": min_encryption,
	"channels": sort(granted_channels),
	"forward_targets": sort({t |
		"forward" in granted_channels
		some role in admitting
		some t in role.forward_targets
	}),
	"require_confirm": object.get(host_tags, confirm_tag, "") == "required",
	"private_relays_only": relaying.private_relays_only,
	"relay_regions": relaying.relay_regions,
} if input.request.action == "connect"

else := no_obligations

# ---------------------------------------------------------------------------
# Facts about the request, with defaults so that every rule stays defined.
# Hot rules read input.* directly where the default makes no difference.
# ---------------------------------------------------------------------------

default action := ""

action := input.request.action

subject_named if input.subject.id != ""

default who := "an unidentified subject"

who := input.subject.id if subject_named

groups := {g | some g in input.subject.groups}

# in_a_group is count(groups) > 0 without building the set.
in_a_group if some _ in input.subject.groups

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

# reached holds the subject's roles that grant "connect" with a host selector that selects
# the host (as connect_roles has them): a selector selects a host carrying every key=value of
# it. Each group is looked up by key, so the cost follows the subject's groups, not the size
# of roles.
reached[name] := role if {
	input.request.action == "connect"
	some name in input.subject.groups
	role := connect_roles[name]
	some selector in role.selectors
	object.subset(host_tags, selector.tags)
}

# admitting holds the reached roles whose window (if any) is open.
admitting[name] := role if {
	some name, role in reached
	not role.window
}

admitting[name] := role if {
	some name, role in reached
	window_open(role.window)
}

grants contains msg if {
	some name, role in admitting
	some selector in role.selectors
	object.subset(host_tags, selector.tags)
	msg := sprintf("group %s may connect to %s (%s)", [name, host_name, selector.words])
}

grants contains msg if {
	input.request.action != "connect"
	some name in input.subject.groups
	action in roles[name].actions
	msg := sprintf("group %s may %s", [name, actions[action]])
}

# ---------------------------------------------------------------------------
# Denials: every reason to refuse. Any one refuses.
# ---------------------------------------------------------------------------

denials := explicit | missing_grant

explicit contains "the request names no subject" if not subject_named

explicit contains msg if {
	not in_a_group
	msg := sprintf("%s belongs to no group, and every permission comes from a group", [who])
}

# object.get reads the action as the action rule does (its default too) without evaluating it.
explicit contains msg if {
	not actions[object.get(input, ["request", "action"], "")]
	msg := sprintf("unknown action %v (known: %s)", [action, concat(", ", sort(object.keys(actions)))])
}

explicit contains msg if {
	some name in input.subject.groups
	forbidden := roles[name].forbidden
	why := forbidden[action]
	msg := sprintf("%s is in group %s: %s", [who, name, why])
}

explicit contains msg if {
	input.request.action == "connect"
	env := environments[host_tags.env]
	env.mfa
	not signed_in_with_mfa
	msg := sprintf("MFA is required for %s hosts (env=%s): %s signed in without MFA", [env.label, host_tags.env, who])
}

explicit contains msg if {
	some channel in requested_channels
	count(admitting) > 0
	not channel in permitted_channels
	msg := sprintf("channel %v is not permitted to %s on %s (permitted: %s)", [channel, who, host_name, concat(", ", sort(permitted_channels))])
}

explicit contains msg if {
	input.request.action == "connect"
	level := input.request.encryption
	level != ""
	not encryption_rank[level]
	msg := sprintf("unknown encryption level %v (known: %s)", [level, concat(", ", sort(object.keys(encryption_rank)))])
}

explicit contains msg if {
	input.request.action == "connect"
	count(input.context.relays) > 0
	relaying.private_relays_only
	not private_relay_available
	msg := sprintf("tenant %s allows only its own private relays, and none is available", [tenant])
}

# connecting holds the subject's roles that grant "connect"; only refusals need them all.
connecting[name] := role if {
	input.request.action == "connect"
	some name in input.subject.groups
	role := roles[name]
	"connect" in role.actions
}

# refusals explain why each of the subject's connecting roles did not admit the request.
refusals contains msg if {
	some name, role in connecting
	not reached[name]
	msg := sprintf("group %s may connect only to hosts with %s; %s has %s", [name, describe_hosts(role.hosts), host_name, describe_tags(host_tags, "no tags")])
}

refusals contains msg if {
	some name, role in reached
	not admitting[name]
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

permitted_channels := {c | some role in admitting; some c in role.channels}

granted_channels := requested_channels if count(requested_channels) > 0

else := permitted_channels

# session_limit is an admitting role's longest session, cut at the end of its window.
session_limit(role) := min({role.max_duration_seconds, window_remaining(role.window)}) if role.window

else := role.max_duration_seconds

# min_encryption is the stronger of what the environment demands and what the Guest asked for.
min_encryption := level if {
	level := input.request.encryption
	encryption_rank[level] > object.get(encryption_rank, required_encryption, 0)
} else := required_encryption if encryption_rank[required_encryption]

required_encryption := object.get(env_encryption, object.get(host_tags, "env", ""), default_min_encryption)

relaying := object.get(tenant_relaying, tenant, no_relaying)

private_relay_available if {
	some relay in input.context.relays
	relay.private == true
	relay.owner == tenant
}

# ---------------------------------------------------------------------------
# Time windows, evaluated in the window's time zone.
# ---------------------------------------------------------------------------

request_ns := time.parse_rfc3339_ns(input.context.time)

window_open(window) if {
	now := local_now[window.time_zone]
	now.day in window.days
	clock_seconds(window.start) <= now.seconds
	now.seconds < clock_seconds(window.end)
}

# window_remaining is how many seconds an open window stays open.
window_remaining(window) := clock_seconds(window.end) - local_now[window.time_zone].seconds

# local_now is the request time in each time zone a reached role's window names: weekday,
# seconds since midnight and the clock. A rule keyed by zone is computed once per decision.
local_now[tz] := {"day": day, "seconds": ((c[0] * 3600) + (c[1] * 60)) + c[2], "clock": c} if {
	some role in reached
	tz := role.window.time_zone
	c := time.clock([request_ns, tz])
	day := time.weekday([request_ns, tz])
}

clock_seconds(hhmm) := (to_number(parts[0]) * 3600) + (to_number(parts[1]) * 60) if parts := split(hhmm, ":")

now_phrase(window) := sprintf("it is %s %02d:%02d there", [now.day, now.clock[0], now.clock[1]]) if now := local_now[window.time_zone]

else := "the request carries no valid time"

describe_window(window) := sprintf("%s %s–%s %s", [describe_days(window.days), window.start, window.end, window.time_zone])

describe_days(days) := "Monday–Friday" if days == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

else := concat(", ", days)

# ---------------------------------------------------------------------------
# Wording.
# ---------------------------------------------------------------------------

describe_hosts(selectors) := concat(" or ", sort([describe_tags(s, "any host") | some s in selectors]))

# describe_tags words tags as "k=v, k=v" in key order, or as none when there are none.
describe_tags(tags, none) := words if {
	words := concat(", ", sort([sprintf("%s=%v", [k, v]) | some k, v in tags]))
	words != ""
} else := none
