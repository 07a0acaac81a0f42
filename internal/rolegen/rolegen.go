// Package rolegen generates large role tables and host fleets in the shapes of the default
// policy (rego/authz.rego), so that decision time can be measured, and the policy's meaning
// compared, at sizes far beyond the four roles it ships with.
package rolegen

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// ErrNoRolesTable: the policy text has no `roles := {` table ending in a line `}`.
var ErrNoRolesTable = errors.New("rolegen: no roles table in the policy")

// Envs are the env tags generated hosts carry; the default policy's environments table knows
// prod and staging, and dev takes its defaults.
var Envs = []string{"prod", "staging", "dev"}

// Host is a generated Host: what the policy input says about it.
type Host struct {
	// Name is host-NNNNN.
	Name string
	// Tenant is acme, or globex (private relays only) for one host in 50.
	Tenant string
	// Tags are env, team (team-NNNN, one of 1,000) and, for one host in 97, confirm=required.
	Tags map[string]string
}

// Team names the team of index i, as roles and hosts use it.
func Team(i int) string { return fmt.Sprintf("team-%04d", i) }

// Group names the identity-provider group of generated role i.
func Group(i int) string { return fmt.Sprintf("g-%04d", i) }

// Hosts returns n hosts, the same for the same n and seed.
func Hosts(n int, seed uint64) []Host {
	r := rand.New(rand.NewPCG(seed, 1))
	hosts := make([]Host, n)
	for i := range hosts {
		h := Host{Name: fmt.Sprintf("host-%05d", i), Tenant: "acme",
			Tags: map[string]string{"env": Envs[r.IntN(len(Envs))], "team": Team(r.IntN(1000))}}
		if i%50 == 0 {
			h.Tenant = "globex"
		}
		if i%97 == 0 {
			h.Tags["confirm"] = "required"
		}
		hosts[i] = h
	}
	return hosts
}

// Policy returns authz with its roles table replaced by the default four roles (read from it)
// and n generated ones, in the same shapes: group g-NNNN connects to its team's hosts (one
// selector per env it may reach), every fourth only in a working-hours window, every tenth
// is an auditors-like group that may only query the decision log and is forbidden to connect.
func Policy(authz []byte, n int) ([]byte, error) {
	start := bytes.Index(authz, []byte("\nroles := {\n"))
	if start < 0 {
		return nil, ErrNoRolesTable
	}
	end := bytes.Index(authz[start:], []byte("\n}\n"))
	if end < 0 {
		return nil, ErrNoRolesTable
	}
	body := authz[start+len("\nroles := {\n") : start+end]
	var b strings.Builder
	b.Write(authz[:start])
	b.WriteString("\nroles := {\n")
	b.Write(body)
	b.WriteString("\n")
	for i := range n {
		b.WriteString(role(i))
	}
	b.WriteString("}\n")
	b.Write(authz[start+end+len("\n}\n"):])
	return []byte(b.String()), nil
}

// role is generated role i as a roles table entry.
func role(i int) string {
	if i%10 == 9 {
		return fmt.Sprintf("\t%q: {\"actions\": {\"query_decisions\"}, \"forbidden\": {\"connect\": \"group %d reviews and never connects\"}},\n", Group(i), i)
	}
	var selectors []string
	for j, env := range Envs {
		if (i+j)%3 != 0 {
			selectors = append(selectors, fmt.Sprintf("{\"env\": %q, \"team\": %q}", env, Team(i)))
		}
	}
	window := ""
	if i%4 == 3 {
		window = `, "window": {"days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"], "start": "08:00", "end": "18:00", "time_zone": "Europe/Copenhagen"}`
	}
	return fmt.Sprintf("\t%q: {\"actions\": {\"connect\"}, \"hosts\": [%s], \"channels\": [\"shell\", \"exec\", \"forward\"], \"forward_targets\": [\"localhost:%d\"], \"max_duration_seconds\": %d%s},\n",
		Group(i), strings.Join(selectors, ", "), 5000+i, 1800*(1+i%8), window)
}

// Request is a generated connect request: who asks for which host, when and how.
type Request struct {
	// Groups are the subject's groups: the host's team group (when generated) four times in
	// five, and one or two others.
	Groups []string
	// MFA reports a multi-factor sign-in (four in five).
	MFA bool
	// Host is the host asked for.
	Host Host
	// Time is when, as RFC 3339: a 2025-06 week, at any hour, in UTC.
	Time string
	// Channels are the channels asked for; empty (most) means whatever is permitted.
	Channels []string
	// Encryption is the level asked for; empty (most) means the minimum.
	Encryption string
}

// Requests returns n requests over hosts by subjects of the first roles generated roles, the
// same for the same arguments.
func Requests(n, roles int, hosts []Host, seed uint64) []Request {
	r := rand.New(rand.NewPCG(seed, 2))
	reqs := make([]Request, n)
	channels := [][]string{nil, nil, nil, {"shell"}, {"exec", "forward"}, {"x11"}}
	levels := []string{"", "", "", "medium", "very_high", "rot13"}
	for i := range reqs {
		h, team := pick(r, hosts)
		// Three requests in four are for a host of a generated role's team.
		for tries, own := 0, r.IntN(4) != 0; own && team >= roles && tries < 2000; tries++ {
			h, team = pick(r, hosts)
		}
		q := Request{Host: h, MFA: r.IntN(5) != 0, Channels: channels[r.IntN(len(channels))], Encryption: levels[r.IntN(len(levels))],
			Time: fmt.Sprintf("2025-06-%02dT%02d:%02d:00Z", 2+r.IntN(7), r.IntN(24), r.IntN(60))}
		if team < roles && r.IntN(5) != 0 {
			q.Groups = append(q.Groups, Group(team))
		}
		for range 1 + r.IntN(2) {
			if roles > 0 {
				q.Groups = append(q.Groups, Group(r.IntN(roles)))
			}
		}
		reqs[i] = q
	}
	return reqs
}

// pick is a random host and the index of its team.
func pick(r *rand.Rand, hosts []Host) (Host, int) {
	h := hosts[r.IntN(len(hosts))]
	var team int
	if _, err := fmt.Sscanf(h.Tags["team"], "team-%d", &team); err != nil {
		return h, math.MaxInt
	}
	return h, team
}
