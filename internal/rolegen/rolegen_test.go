package rolegen

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const tables = "package p\n\nroles := {\n\t\"ops\": {\"actions\": {\"connect\"}},\n}\n\nx := 1\n"

func TestPolicy(t *testing.T) {
	cases := []struct {
		name   string
		authz  string
		n      int
		groups int
		err    error
	}{
		{"no roles table", "package p\n", 3, 0, ErrNoRolesTable},
		{"unterminated table", "package p\nroles := {\n\t\"ops\": {},", 3, 0, ErrNoRolesTable},
		{"zero roles keeps the table", tables, 0, 0, nil},
		{"ten roles", tables, 10, 10, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Policy([]byte(tc.authz), tc.n)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Policy = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if n := strings.Count(string(got), "\"g-"); n != tc.groups {
				t.Errorf("%d generated roles, want %d:\n%s", n, tc.groups, got)
			}
			if !bytes.Contains(got, []byte("\"ops\": {\"actions\"")) || !bytes.HasSuffix(got, []byte("}\n\nx := 1\n")) {
				t.Errorf("the table's own roles or the rest of the policy were lost:\n%s", got)
			}
		})
	}
}

func TestHostsAndRequestsAreReproducible(t *testing.T) {
	hosts := Hosts(500, 7)
	if !reflect.DeepEqual(hosts, Hosts(500, 7)) || reflect.DeepEqual(hosts, Hosts(500, 8)) {
		t.Fatal("Hosts is not a function of n and seed")
	}
	reqs := Requests(200, 50, hosts, 7)
	if !reflect.DeepEqual(reqs, Requests(200, 50, hosts, 7)) {
		t.Fatal("Requests is not a function of its arguments")
	}
	own := 0
	for _, q := range reqs {
		if len(q.Groups) > 0 && q.Groups[0] == "g-"+strings.TrimPrefix(q.Host.Tags["team"], "team-") {
			own++
		}
	}
	if own < 50 {
		t.Errorf("%d of 200 requests by the host's own team; want most", own)
	}
}
