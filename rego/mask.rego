# METADATA
# title: Decision-log masking
# description: |
#   The Connection Manager evaluates data.system.log.mask on every decision-log record
#   before it stores it, as OPA does for its decision logs. The rule's input is the record:
#   {"decision_id", "path", "input", "result"}. It returns JSON pointers to erase
#   ("/input/subject/email") and {"op": "upsert", "path", "value"} objects to replace values.
#
#   This policy keeps what an auditor needs (who, which host, when, what, the verdict) and
#   drops personal data the decision never needs again:
#   - the subject's e-mail address and display name (subject.id already names the user);
#   - the Guest's address is kept only as its network: an IPv4 address as its /24, an IPv6
#     address as its /48; anything else is erased.
# schemas:
#   - input: schema.decision_log_event
package system.log

# mask is the set of masking instructions for one record.
mask contains "/input/subject/email" if input.input.subject.email

mask contains "/input/subject/name" if input.input.subject.name

mask contains {"op": "upsert", "path": "/input/context/guest_addr", "value": network} if {
	network := guest_network(input.input.context.guest_addr)
}

mask contains "/input/context/guest_addr" if {
	addr := input.input.context.guest_addr
	not guest_network(addr)
}

# guest_network is the /24 of an IPv4 address or the /48 of an IPv6 address.
guest_network(addr) := sprintf("%s.0/24", [concat(".", array.slice(parts, 0, 3))]) if {
	net.cidr_is_valid(sprintf("%s/32", [addr]))
	parts := split(addr, ".")
	count(parts) == 4
}

guest_network(addr) := cidr if {
	contains(addr, ":")
	net.cidr_is_valid(sprintf("%s/128", [addr]))
	some cidr in net.cidr_merge([sprintf("%s/48", [addr])])
}
