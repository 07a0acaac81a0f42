package guest

import (
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
)

const testCM = "https://cm.example:8443"

var testRelays = []api.RelayAddr{{ID: "cs-eu-1", Addr: "cs1.example:1970", HTTPAddr: "http://cs1.example"}, {ID: "cs-us-1", Addr: "cs2.example:1970"}}

func TestProbeCacheLoad(t *testing.T) {
	saved := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		cmURL  string
		host   string
		now    time.Time
		wantOK bool
	}{
		{"fresh", testCM, "db-1", saved.Add(time.Minute), true},
		{"just before the TTL", testCM, "db-1", saved.Add(ProbeCacheTTL - time.Second), true},
		{"at the TTL", testCM, "db-1", saved.Add(ProbeCacheTTL), false},
		{"dated after now (clock moved back)", testCM, "db-1", saved.Add(-time.Second), false},
		{"another Host", testCM, "db-2", saved.Add(time.Minute), false},
		{"another CM", "https://other.example", "db-1", saved.Add(time.Minute), false},
	}
	c := ProbeCache{Dir: t.TempDir()}
	if err := c.Save(testCM, "db-1", testRelays, saved); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.Load(tt.cmURL, tt.host, tt.now)
			if ok != tt.wantOK {
				t.Fatalf("Load ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && !reflect.DeepEqual(got, testRelays) {
				t.Fatalf("Load = %+v, want %+v", got, testRelays)
			}
		})
	}
}

func TestProbeCacheFileIsPrivateAndBadFilesAreMisses(t *testing.T) {
	now := time.Now()
	c := ProbeCache{Dir: t.TempDir()}
	if err := c.Save(testCM, "db-1", testRelays, now); err != nil {
		t.Fatal(err)
	}
	path, err := c.path(testCM)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != credentialFileMode {
		t.Fatalf("cache file mode = %v, %v; want %v", info.Mode().Perm(), err, credentialFileMode)
	}
	for name, content := range map[string][]byte{
		"not JSON":               []byte("{"),
		"written for another CM": []byte(`{"cm_url":"https://other.example","hosts":{"db-1":{"fetched":"` + now.Format(time.RFC3339Nano) + `","relays":[{"id":"x","addr":"x:1"}]}}}`),
		"too large":              make([]byte, maxProbeCacheBytes+1),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, content, credentialFileMode); err != nil {
				t.Fatal(err)
			}
			if got, ok := c.Load(testCM, "db-1", now); ok {
				t.Fatalf("Load = %+v from a bad file", got)
			}
			if err := c.Save(testCM, "db-1", testRelays, now); err != nil { // and Save replaces it
				t.Fatalf("Save over a bad file: %v", err)
			}
			if _, ok := c.Load(testCM, "db-1", now); !ok {
				t.Fatal("Load after Save missed")
			}
		})
	}
}

func TestProbeCacheSaveKeepsNoEmptyListDropsTheOldestAndDeletes(t *testing.T) {
	start := time.Now().Add(-time.Minute)
	c := ProbeCache{Dir: t.TempDir()}
	if err := c.Save(testCM, "empty", nil, start); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Load(testCM, "empty", start); ok {
		t.Fatal("an empty list was cached: the next connect would not ask the CM")
	}
	for i := range maxProbeCacheHosts + 1 {
		if err := c.Save(testCM, fmt.Sprintf("h-%d", i), testRelays, start.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	now := start.Add(time.Second)
	if _, ok := c.Load(testCM, "h-0", now); ok {
		t.Error("the oldest Host was kept beyond the limit")
	}
	if _, ok := c.Load(testCM, fmt.Sprintf("h-%d", maxProbeCacheHosts), now); !ok {
		t.Error("the newest Host was dropped")
	}
	if n := len(c.read(testCM).Hosts); n != maxProbeCacheHosts {
		t.Errorf("file holds %d Hosts, want %d", n, maxProbeCacheHosts)
	}
	for range 2 { // the second finds nothing to delete
		if err := c.Delete(testCM); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if _, ok := c.Load(testCM, fmt.Sprintf("h-%d", maxProbeCacheHosts), now); ok {
		t.Error("Load found relays after Delete")
	}
}

func FuzzProbeCacheFile(f *testing.F) {
	f.Add([]byte(`{"cm_url":"` + testCM + `","hosts":{"db-1":{"fetched":"2026-12-01T12:00:00Z","relays":[{"id":"cs-1","addr":"cs:1970"}]}}}`))
	f.Add([]byte(`{"cm_url":"` + testCM + `","hosts":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, ok := decodeProbeCache(data, testCM)
		if ok && (pf.CMURL != testCM || pf.Hosts == nil) {
			t.Fatalf("accepted a file for %q with hosts %v", pf.CMURL, pf.Hosts)
		}
		if !ok && (pf.CMURL != "" || pf.Hosts != nil) {
			t.Fatalf("refused, yet returned %+v", pf)
		}
	})
}
