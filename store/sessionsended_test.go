package store

import (
	"context"
	"slices"
	"testing"
)

// testEndedSessionsAmong: of more ids than a statement takes, the sessions whose end is
// recorded are returned, each once, and the live ones and ids the store does not know are not.
func testEndedSessionsAmong(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	all := makeLiveSessions(2*LivePageSize + 9)
	createSessions(t, db, all)
	var ids, want []string
	for _, s := range all {
		ids = append(ids, s.ID)
		if s.EndedAt != nil {
			want = append(want, s.ID)
		}
	}
	ids = append(ids, "s-unknown")
	got, err := db.EndedSessionsAmong(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	gotIDs := make([]string, len(got))
	for i, s := range got {
		gotIDs[i] = s.ID
		if s.EndedAt == nil {
			t.Errorf("%s is returned live", s.ID)
		}
	}
	slices.Sort(gotIDs)
	slices.Sort(want)
	if len(want) <= LivePageSize/7 || !slices.Equal(gotIDs, want) {
		t.Errorf("ended among all: %d sessions, want the %d ended", len(gotIDs), len(want))
	}
	if got, err := db.EndedSessionsAmong(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("ended among none = %v, %v", got, err)
	}
}
