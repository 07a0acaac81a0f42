package gateway

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

func TestHostAuthCacheTrustsAnEnabledHostOnlyForItsLifetime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	enabled := store.Host{ID: "h_1", Name: "db-1", CertSerial: "123456789012345678901234567890"}
	disabled := store.Host{ID: "h_1", Name: "db-1", Disabled: true}
	cases := []struct {
		name    string
		put     []store.Host
		ttl     time.Duration
		at      time.Duration
		wantHit bool
	}{
		{"fresh entry", []store.Host{enabled}, time.Second, 999 * time.Millisecond, true},
		{"expired entry", []store.Host{enabled}, time.Second, time.Second, false},
		{"never cached", nil, time.Second, 0, false},
		{"a disabled host is never cached", []store.Host{disabled}, time.Second, 0, false},
		{"disabling forgets the enabled entry", []store.Host{enabled, disabled}, time.Second, 0, false},
		{"zero lifetime caches nothing", []store.Host{enabled}, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newHostIdentityCache()
			for _, h := range tc.put {
				c.put(h, now, tc.ttl)
			}
			h, serial, ok := c.get("h_1", now.Add(tc.at))
			if ok != tc.wantHit || ok && (h.Name != "db-1" || serial.String() != enabled.CertSerial) {
				t.Fatalf("get = %+v (serial %v), %v; want hit %v", h, serial, ok, tc.wantHit)
			}
		})
	}
}

func TestAStoredSerialThatIsNotANumberMatchesNoCertificate(t *testing.T) {
	t.Parallel()
	for _, serial := range []string{"", "0x1f", "12a", " 12"} {
		if got := certSerial(store.Host{CertSerial: serial}); got != nil {
			t.Errorf("serial %q parsed as %v; want none (every certificate refused)", serial, got)
		}
	}
	if got := certSerial(store.Host{CertSerial: "42"}); got == nil || got.Int64() != 42 {
		t.Errorf("serial 42 parsed as %v", got)
	}
}
