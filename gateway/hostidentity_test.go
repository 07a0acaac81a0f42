package gateway

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

func TestHostAuthCacheTrustsAnEnabledHostOnlyForItsLifetime(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	enabled := store.Host{ID: "h_1", Name: "db-1"}
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
			h, ok := c.get("h_1", now.Add(tc.at))
			if ok != tc.wantHit || ok && h.Name != "db-1" {
				t.Fatalf("get = %+v, %v; want hit %v", h, ok, tc.wantHit)
			}
		})
	}
}
