package gateway_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
)

func TestEnrollmentTokensAreSingleUseAndAdminOnly(t *testing.T) {
	t.Parallel()
	c := startCM(t)
	dave := c.login(t, "dave@example.com", "")
	tok := c.createToken(t, dave, map[string]string{"env": "prod"}, "acme")
	if _, err := c.tryEnroll("db-1", tok); err != nil {
		t.Fatalf("first enrollment: %v", err)
	}
	if _, err := c.tryEnroll("db-2", tok); err == nil {
		t.Fatal("a used enrollment token enrolled a second host")
	} else if status, _ := statusOf(err); status != http.StatusUnauthorized {
		t.Fatalf("second use: %v, want 401", err)
	}
	if _, err := c.tryEnroll("db-3", "pcet_forged"); err == nil {
		t.Fatal("a forged token enrolled a host")
	}
	h, err := c.store.GetHostByName(context.Background(), "db-1")
	if err != nil || h.Tenant != "acme" || h.Tags["env"] != "prod" {
		t.Fatalf("enrolled host = %+v, %v: the token's scope must apply", h, err)
	}
	err = c.call(c.login(t, "bob@example.com", ""), http.MethodPost, api.PathEnrollmentTokens, api.EnrollmentTokenRequest{}, nil)
	if status, _ := statusOf(err); status != http.StatusForbidden {
		t.Fatalf("a contractor created an enrollment token: %v", err)
	}
}

func TestHostEndpointsNeedTheHostCertificateAndAnEnabledHost(t *testing.T) {
	t.Parallel()
	c := startCM(t)
	h := c.enroll(t, "web-1", map[string]string{"env": "staging"}, "acme")
	if err := heartbeat(h, c.url); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	anonymous := hostAgent{client: c.http}
	if status, _ := statusOf(heartbeat(anonymous, c.url)); status != http.StatusUnauthorized {
		t.Fatal("a heartbeat without a client certificate was accepted")
	}
	if err := c.store.SetHostDisabled(context.Background(), h.id, true); err != nil {
		t.Fatal(err)
	}
	// The CM trusts a Host's enabled state for HostAuthTTL; past it, the disabled Host is refused.
	c.later.Store(int64(gateway.DefaultHostAuthTTL))
	if status, _ := statusOf(heartbeat(h, c.url)); status != http.StatusForbidden {
		t.Fatal("a disabled host's heartbeat was accepted")
	}
}
