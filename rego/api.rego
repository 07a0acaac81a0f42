# METADATA
# title: Portcullis default API policy
# description: |
#   Decides who may use the Connection Manager's admin and auditor API: create host
#   enrollment tokens, list, disable, enable or delete hosts, list relays, and read or
#   query the decision log. The Connection Manager queries data.portcullis.api.decision
#   with input.request.operation naming the operation, and records every such decision
#   in the decision log under the path portcullis/api/<operation>.
#   Change the tables, not the rules.
package portcullis.api

# operations are the API operations the Connection Manager asks about, with their wording.
operations := {
	"enrollment_tokens.create": "create host enrollment tokens",
	"hosts.list": "list hosts",
	"hosts.disable": "disable hosts",
	"hosts.enable": "enable hosts",
	"hosts.delete": "delete hosts",
	"relays.list": "list relays",
	"decisions.read": "read other users' decision records",
	"decisions.query": "query the decision log",
	"sessions.list": "read session records",
	"sessions.reevaluate": "re-evaluate live sessions",
	"locks.list": "read locks",
	"locks.create": "lock users, hosts and sessions",
	"locks.remove": "remove locks",
}

# permissions maps an identity-provider group to the operations its members may perform.
permissions := {
	"portcullis-admins": {
		"enrollment_tokens.create", "hosts.list", "hosts.disable", "hosts.enable", "hosts.delete",
		"relays.list", "decisions.read", "decisions.query",
		"sessions.list", "sessions.reevaluate", "locks.list", "locks.create", "locks.remove",
	},
	"auditors": {"hosts.list", "relays.list", "decisions.read", "decisions.query", "sessions.list", "locks.list"},
}

# mfa_required lists the operations that demand a multi-factor sign-in (amr contains "mfa").
mfa_required := set()

decision := {"allow": allow, "reasons": reasons}

default allow := false

allow if {
	count(denials) == 0
	count(grants) > 0
}

reasons := sort(grants) if allow

reasons := sort(denials) if not allow

default operation := ""

operation := input.request.operation

default who := "an unidentified subject"

who := input.subject.id if input.subject.id != ""

groups := {g | some g in input.subject.groups}

grants contains msg if {
	some g in groups
	operation in permissions[g]
	msg := sprintf("group %s may %s", [g, operations[operation]])
}

denials := explicit | missing_grant

explicit contains "the request names no subject" if input.subject.id == ""

explicit contains msg if {
	not operations[operation]
	msg := sprintf("unknown API operation %v (known: %s)", [operation, concat(", ", sort(object.keys(operations)))])
}

explicit contains msg if {
	operation in mfa_required
	not "mfa" in input.subject.amr
	msg := sprintf("%s requires a multi-factor sign-in: %s signed in without MFA", [operations[operation], who])
}

default missing_grant := set()

missing_grant := {msg} if {
	count(grants) == 0
	operations[operation]
	msg := sprintf("no group of %s (%s) may %s", [who, concat(", ", sort(groups)), operations[operation]])
}
