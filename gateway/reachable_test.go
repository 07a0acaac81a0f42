package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
)

func TestReachableHostsListsWhatThePolicyAllowsAndRecordsNothing(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	ctx := context.Background()
	reachable := func(u user) api.ReachableHosts {
		t.Helper()
		var out api.ReachableHosts
		if err := w.call(u, http.MethodGet, api.PathReachableHosts, nil, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before, _, err := w.store.ListDecisions(ctx, store.DecisionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		email, otp string
		want       []string
	}{
		{"alice@example.com", "123456", []string{"db-1", "web-1"}},
		{"alice@example.com", "", []string{"web-1"}}, // production needs MFA
		{"mallory@example.com", "", nil},
	}
	for _, tt := range tests {
		got := reachable(w.login(t, tt.email, tt.otp))
		var names []string
		for _, h := range got.Hosts {
			names = append(names, h.Name)
			if !h.Online || len(h.Channels) == 0 || h.MinEncryption == "" || h.Tags["env"] == "" {
				t.Errorf("%s sees %+v", tt.email, h)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, tt.want) || got.Principal != tt.email {
			t.Errorf("%s (otp %q) may reach %v as %q, want %v", tt.email, tt.otp, names, got.Principal, tt.want)
		}
	}
	after, _, err := w.store.ListDecisions(ctx, store.DecisionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("listing reachable hosts recorded %d decisions; it records none", len(after)-len(before))
	}
	if err := api.Call(ctx, w.http, http.MethodGet, w.url+api.PathReachableHosts, "", nil, nil); err == nil {
		t.Error("an anonymous caller got a listing")
	}
}

func TestTheCertificateCarriesTheSubjectsGroups(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	resp, _, err := w.connect(w.login(t, "alice@example.com", "123456"), "web-1", "exec")
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(resp.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	groups, err := certs.CertGroups(key.(*ssh.Certificate))
	if err != nil || !slices.Contains(groups, "ops") {
		t.Errorf("certificate groups %q (%v), want alice's groups with ops", groups, err)
	}
}
