package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// unknownAround returns n ids the store does not know for each prefix: mixed with known ids,
// they spread those over the statements a read of more than LivePageSize ids takes.
func unknownAround(n int, prefixes ...string) []string {
	var ids []string
	for _, p := range prefixes {
		for i := range n {
			ids = append(ids, fmt.Sprintf("%s%04d", p, i))
		}
	}
	return ids
}

// testReevaluationReads: the inputs of records and the Hosts a re-evaluation pass asks for are
// read however many ids it names, each known one once (an id named twice too), and unknown ids
// are left out, not refused.
func testReevaluationReads(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	known := map[string]json.RawMessage{"d-c": json.RawMessage(`{"n":1}`), "d-j": json.RawMessage(`{"n":2}`), "d-s": json.RawMessage(`{"n":3}`)}
	for id, input := range known {
		if err := db.InsertDecision(ctx, Decision{ID: id, Time: at(0), Path: "/v1/connect", Subject: "alice@example.com",
			Reasons: []string{}, Input: input, Result: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	ids := append(unknownAround(LivePageSize/3+1, "d-a", "d-e", "d-p", "d-z"), "d-s", "d-j", "d-c", "d-j")
	inputs, err := db.DecisionInputs(ctx, ids)
	if err != nil || len(inputs) != len(known) {
		t.Fatalf("DecisionInputs(%d ids) = %d inputs, %v; want %d", len(ids), len(inputs), err, len(known))
	}
	for id, want := range known {
		if got := inputs[id]; string(got) != string(want) {
			t.Errorf("input of %s = %s, want %s", id, got, want)
		}
	}
	enrolled := enrollHosts(t, db)
	hostIDs := unknownAround(LivePageSize/3+1, "id-a", "id-e", "id-p", "id-z")
	for _, h := range enrolled {
		hostIDs = append(hostIDs, h.ID, h.ID)
	}
	hosts, err := db.HostsByID(ctx, hostIDs)
	if err != nil || len(hosts) != len(enrolled) {
		t.Fatalf("HostsByID(%d ids) = %d hosts, %v; want %d", len(hostIDs), len(hosts), err, len(enrolled))
	}
	for _, want := range enrolled {
		if got := hosts[want.ID]; got.Name != want.Name || got.Tags["env"] != want.Tags["env"] || got.Tenant != want.Tenant {
			t.Errorf("host %s = %+v, want %+v", want.ID, got, want)
		}
	}
	for _, read := range []func() (int, error){
		func() (int, error) { m, err := db.DecisionInputs(ctx, nil); return len(m), err },
		func() (int, error) { m, err := db.HostsByID(ctx, nil); return len(m), err },
	} {
		if n, err := read(); n != 0 || err != nil {
			t.Errorf("a read of no ids = %d, %v", n, err)
		}
	}
}
