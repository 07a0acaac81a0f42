package main

import (
	"strings"
	"testing"
)

func TestCSConfigValidateReportsEveryProblemAtOnce(t *testing.T) {
	good := csConfig{ID: "cs-1", Listen: ":1970", Advertise: "cs:1970", CMURL: "https://cm", HTTPListen: ":80", HTTPAdvertise: "http://cs:80"}
	if err := good.Validate(); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
	bad := csConfig{HTTPListen: ":80", EnrollToken: "pcet_x", MaxSessions: -1, RelayCert: "cs-1.crt"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("a bad configuration was accepted")
	}
	for _, want := range []string{"id, listen, advertise and cm-url are required", "http-advertise is required", "needs a state-dir", "must not be negative", "relay-cert and relay-key go together"} {
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
