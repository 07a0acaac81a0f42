package policy

import (
	"slices"
	"testing"
	"testing/fstest"
)

func TestDecideAPI(t *testing.T) {
	t.Parallel()
	// A custom policy without an API package gets the default one.
	authzOnly := defaultFilesPlus(t, "x.rego", []byte("package portcullis.x\n\ny := 1\n"))
	delete(authzOnly, "api.rego")
	delete(authzOnly, "api_test.rego")
	custom := "package portcullis.api\n\ndecision := {\"allow\": input.subject.id == \"root@example.com\", \"reasons\": [\"only root\"]}\n"
	withOwn := defaultFilesPlus(t, "x.rego", []byte("package portcullis.x\n\ny := 1\n"))
	withOwn["api.rego"] = &fstest.MapFile{Data: []byte(custom)}
	delete(withOwn, "api_test.rego")
	for _, tc := range []struct {
		name   string
		fsys   fstest.MapFS
		id     string
		groups []string
		op     string
		allow  bool
		reason string
	}{
		{"default: admins create tokens", nil, "dave@example.com", []string{"portcullis-admins"}, "enrollment_tokens.create", true, "group portcullis-admins may create host enrollment tokens"},
		{"default: auditors may not delete hosts", nil, "carol@example.com", []string{"auditors"}, "hosts.delete", false, "no group of carol@example.com (auditors) may delete hosts"},
		{"policy without api package gets the default", authzOnly, "carol@example.com", []string{"auditors"}, "hosts.list", true, "group auditors may list hosts"},
		{"a policy's own api package decides", withOwn, "dave@example.com", []string{"portcullis-admins"}, "hosts.list", false, "only root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.fsys != nil {
				opts = append(opts, WithFS(tc.fsys))
			}
			e := newEngine(t, opts...)
			res, err := e.DecideAPI(t.Context(), Input{
				Subject: Subject{ID: tc.id, Groups: tc.groups, AMR: []string{"pwd"}},
				Request: Request{Action: ActionAdminister, Operation: tc.op},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision.Allow != tc.allow || !slices.Contains(res.Decision.Reasons, tc.reason) || res.Revision != e.Revision() {
				t.Errorf("decision = %+v (revision %s), want allow=%t with %q", res.Decision, res.Revision, tc.allow, tc.reason)
			}
		})
	}
}
