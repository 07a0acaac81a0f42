package api_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/api"
)

// An answer longer than the client reads is an error that says so, never a cut document.
func TestCallRefusesAnAnswerLongerThanItReads(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int
		wantErr error
	}{
		{"exactly the limit", api.MaxResponseBytes, nil},
		{"one byte more", api.MaxResponseBytes + 1, api.ErrResponseTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				// A JSON string of tc.size bytes, quotes included.
				_, _ = w.Write([]byte(`"` + strings.Repeat("x", tc.size-2) + `"`))
			}))
			defer srv.Close()
			var s string
			err := api.Call(t.Context(), srv.Client(), http.MethodGet, srv.URL, "", nil, &s)
			if !errors.Is(err, tc.wantErr) || (err == nil && len(s) != tc.size-2) {
				t.Errorf("Call = %v (%d bytes decoded), want %v", err, len(s), tc.wantErr)
			}
		})
	}
}
