package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// EndedSessionsAmong returns the sessions of ids whose end is recorded, LivePageSize ids a
// statement; ids the store does not know are left out. A relay that still holds one of them
// missed the order to end it (it came before the session reached the relay).
func (db *DB) EndedSessionsAmong(ctx context.Context, ids []string) ([]Session, error) {
	var ended []Session
	for chunk := range slices.Chunk(ids, LivePageSize) {
		page, err := queryAll(ctx, db.sql, scanSession, "SELECT "+sessionColumns+
			" FROM sessions WHERE ended_at IS NOT NULL AND id IN ("+idMarks(1, len(chunk))+")", anys(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("store: ended sessions among %d: %w", len(chunk), err)
		}
		ended = append(ended, page...)
	}
	return ended, nil
}

// idMarks returns n statement parameters from $first on, comma-separated: "$3, $4, $5".
func idMarks(first, n int) string {
	marks := make([]string, n)
	for i := range marks {
		marks[i] = fmt.Sprintf("$%d", first+i)
	}
	return strings.Join(marks, ", ")
}

// anys returns ids as statement arguments.
func anys(ids []string) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}
