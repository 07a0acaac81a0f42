package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/ticket"
)

func TestCSConfigValidateReportsEveryProblemAtOnce(t *testing.T) {
	good := csConfig{ID: "cs-1", Listen: ":1970", Advertise: "cs:1970", CMURL: "https://cm", HTTPListen: ":80", HTTPAdvertise: "http://cs:80"}
	if err := good.Validate(); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
	bad := csConfig{HTTPListen: ":80", EnrollToken: "pcet_x", MaxSessions: -1, RelayCert: "cs-1.crt", GCPercent: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("a bad configuration was accepted")
	}
	for _, want := range []string{"id, listen, advertise and cm are required", "http-advertise is required", "needs a state-dir", "must not be negative", "relay-cert and relay-key go together", "gc-percent -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestCSConfigRefusesAnIDThatIsNoRelayID(t *testing.T) {
	c := csConfig{ID: "CS 1", Listen: ":1970", Advertise: "cs:1970", CMURL: "https://cm"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "lower-case letters") {
		t.Fatalf("Validate = %v, want the relay id refused", err)
	}
}

func TestARestartedCSRefusesATicketItsPreviousProcessAccepted(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := ticket.KeyID(pub)
	keys := ticket.NewKeySet(map[string]ed25519.PublicKey{kid: pub})
	issued := time.Now().Truncate(time.Second)
	raw, err := (&ticket.Signer{KeyID: kid, Key: priv}).Mint(ticket.Claims{ID: ticket.NewID(), SessionID: "ses-1", Role: access.RoleGuest,
		Audience: "cs-1", HostID: "h-1", IssuedAt: issued, Expiry: issued.Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	// verifyAt runs the verification of the ticket at now by a CS process that started at
	// started, on the state dir.
	verifyAt := func(t *testing.T, stateDir string, started, now time.Time) error {
		t.Helper()
		r, err := openReplayCache(csConfig{ID: "cs-1", StateDir: stateDir}, slog.New(slog.DiscardHandler), started)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = (&ticket.Verifier{Keys: keys, Audience: "cs-1", Replay: r, Now: func() time.Time { return now }}).Verify(raw, access.RoleGuest)
		return err
	}
	for _, tc := range []struct {
		name, stateDir string
	}{
		{"with a state dir: its replay log remembers the ticket", t.TempDir()},
		{"without one: it refuses every ticket valid before its start", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The first process started well before the ticket was issued, and accepted it.
			if err := verifyAt(t, tc.stateDir, issued.Add(-time.Minute), issued.Add(time.Second)); err != nil {
				t.Fatalf("first presentation: %v", err)
			}
			// It crashed; the next one starts two seconds later.
			if err := verifyAt(t, tc.stateDir, issued.Add(3*time.Second), issued.Add(5*time.Second)); !errors.Is(err, access.ErrReplayed) {
				t.Fatalf("presented again after a restart: %v, want replayed", err)
			}
		})
	}
}

// A CS refuses, before it registers, an advertised address Guests and Hosts could not dial and
// an HTTP fallback URL that is not http(s), naming the flag.
func TestCSConfigRefusesAdvertisedAddressesNobodyCanDial(t *testing.T) {
	good := csConfig{ID: "cs-1", Listen: ":1970", Advertise: "cs.example.com:1970", CMURL: "https://cm", HTTPListen: ":80", HTTPAdvertise: "https://cs.example.com"}
	if err := good.Validate(); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
	for _, tc := range []struct {
		advertise, httpAdvertise, want string
	}{
		{"not an addr", "http://cs:80", `--advertise "not an addr"`},
		{":1970", "http://cs:80", `--advertise ":1970"`},
		{"cs.example.com", "http://cs:80", `--advertise "cs.example.com"`},
		{"cs.example.com:http", "http://cs:80", `--advertise "cs.example.com:http"`},
		{"cs.example.com:70000", "http://cs:80", `--advertise "cs.example.com:70000"`},
		{"cs:1970", "ftp://x", `--http-advertise "ftp://x"`},
		{"cs:1970", "cs.example.com:80", `--http-advertise "cs.example.com:80"`},
		{"cs:1970", "http://", `--http-advertise "http://"`},
	} {
		c := good
		c.Advertise, c.HTTPAdvertise = tc.advertise, tc.httpAdvertise
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--advertise %q --http-advertise %q: Validate = %v, want it refused naming %s", tc.advertise, tc.httpAdvertise, err, tc.want)
		}
	}
}
