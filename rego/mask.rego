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
#   - the Guest's address is kept only as its network: an IPv4 address as its /24 (an
#     IPv4-mapped IPv6 address, ::ffff:1.2.3.4, as its IPv4 /24: 1.2.3.0/24), any other IPv6
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

# guest_network is the network the Guest's address is kept as: exactly one definition applies
# to an address. An IPv4 address keeps its /24, and so does an IPv4-mapped IPv6 address
# (::ffff:1.2.3.4, as a dual-stack listener or a proxy may write an IPv4 Guest): it is the same
# IPv4 address and is kept as the same network, 1.2.3.0/24. Any other IPv6 address keeps its /48.
guest_network(addr) := cidr if {
	not contains(addr, ":")
	net.cidr_is_valid(sprintf("%s/32", [addr]))
	some cidr in net.cidr_merge([sprintf("%s/24", [addr])])
}

guest_network(addr) := cidr if {
	ipv6(addr)
	ipv4_mapped(addr)
	some cidr in net.cidr_merge([sprintf("%s/120", [addr])]) # the IPv4 /24, written as IPv4
}

guest_network(addr) := cidr if {
	ipv6(addr)
	not ipv4_mapped(addr)
	some cidr in net.cidr_merge([sprintf("%s/48", [addr])])
}

# ipv6 holds for an address written as IPv6 (IPv4-mapped ones included).
ipv6(addr) if {
	contains(addr, ":")
	net.cidr_is_valid(sprintf("%s/128", [addr]))
}

# ipv4_mapped holds for an IPv6 address in ::ffff:0:0/96, in either form (::ffff:1.2.3.4 or
# ::ffff:102:304).
ipv4_mapped(addr) if net.cidr_contains("::ffff:0:0/96", addr)
