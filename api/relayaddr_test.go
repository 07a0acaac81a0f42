package api_test

import (
	"testing"

	"github.com/portcullis/portcullis/api"
)

func TestRelayAddressesMustBeDialable(t *testing.T) {
	for _, tc := range []struct {
		addr, http string
		addrOK     bool
		httpOK     bool
	}{
		{"cs.example.com:1970", "http://cs.example.com:80", true, true},
		{"[2001:db8::7]:1970", "https://cs.example.com/relay", true, true},
		{"127.0.0.1:1", "http://127.0.0.1", true, true},
		{"not an addr", "ftp://x", false, false},
		{"cs.example.com", "cs.example.com:80", false, false},
		{":1970", "http://", false, false},
		{"cs.example.com:0", "http://cs.example.com/?q=1", false, false},
		{"cs.example.com:65536", "http://cs.example.com/#f", false, false},
		{"cs.example.com:http", "://x", false, false},
		{"", "", false, false},
	} {
		if err := api.CheckRelayAddr(tc.addr); (err == nil) != tc.addrOK {
			t.Errorf("CheckRelayAddr(%q) = %v, want ok %v", tc.addr, err, tc.addrOK)
		}
		if err := api.CheckRelayHTTPAddr(tc.http); (err == nil) != tc.httpOK {
			t.Errorf("CheckRelayHTTPAddr(%q) = %v, want ok %v", tc.http, err, tc.httpOK)
		}
	}
}
