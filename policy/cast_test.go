package policy

import (
	"testing"
	"time"
)

// The SCENARIOS.md cast, as the Connection Manager would describe it to the policy.

func alice() Subject {
	return Subject{ID: "alice@example.com", Name: "Alice", Email: "alice@example.com", IdP: "https://127.0.0.1:8443/idp", Groups: []string{"ops"}, AMR: []string{"pwd", "mfa"}}
}

func aliceWithoutMFA() Subject {
	s := alice()
	s.AMR = []string{"pwd"}
	return s
}

func bob() Subject {
	return Subject{ID: "bob@example.com", Name: "Bob", Groups: []string{"contractors"}, AMR: []string{"pwd"}}
}

func carol() Subject {
	return Subject{ID: "carol@example.com", Name: "Carol", Groups: []string{"auditors"}, AMR: []string{"pwd", "mfa"}}
}

func mallory() Subject {
	return Subject{ID: "mallory@example.com", Name: "Mallory", AMR: []string{"pwd"}}
}

func web1() Host {
	return Host{ID: "h-web-1", Name: "web-1", Tenant: "acme", OS: "linux", Tags: map[string]string{"env": "staging", "team": "web"}, Online: true}
}

func db1() Host {
	return Host{ID: "h-db-1", Name: "db-1", Tenant: "acme", OS: "linux", Tags: map[string]string{"env": "prod", "team": "data"}, Online: true}
}

func kiosk7() Host {
	return Host{ID: "h-kiosk-7", Name: "kiosk-7", Tenant: "globex", OS: "linux", Tags: map[string]string{"env": "prod", "site": "store-7"}, Online: true}
}

func castRelays() []RelayCandidate {
	return []RelayCandidate{
		{ID: "cs-eu-1", Region: "eu-north", Owner: "vendor"},
		{ID: "cs-us-1", Region: "us-east", Owner: "vendor"},
		{ID: "cs-globex-1", Region: "eu-west", Owner: "globex", Private: true},
	}
}

// copenhagen returns the wall-clock time in Copenhagen on 2025-06-03, a Tuesday.
func copenhagen(t testing.TB, hour, minute int) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatalf("load Europe/Copenhagen: %v", err)
	}
	return time.Date(2025, time.June, 3, hour, minute, 0, 0, loc)
}

// connect is the input for subject asking to connect to host at time at.
func connect(s Subject, h Host, at time.Time) Input {
	return Input{
		Subject: s,
		Host:    h,
		Request: Request{Action: ActionConnect},
		Context: Context{Time: at, GuestAddr: "203.0.113.7", Region: "eu-north", Relays: castRelays()},
	}
}

// ask is the input for subject asking for an action that names no host.
func ask(s Subject, action string, at time.Time) Input {
	return Input{Subject: s, Request: Request{Action: action}, Context: Context{Time: at}}
}
