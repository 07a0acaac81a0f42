package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// Reads of a re-evaluation pass, a page of live sessions at a time: each reads what a whole
// page needs with one statement per LivePageSize ids, not one per session. On SQLite, where a
// read that follows a commit begins with a cold page cache, a statement per session cost more
// than deciding the session again.

// DecisionInputs returns the recorded policy input of each of the records ids names that
// exists, by record id; a record with no input maps to nil.
func (db *DB) DecisionInputs(ctx context.Context, ids []string) (map[string]json.RawMessage, error) {
	type row struct {
		id    string
		input json.RawMessage
	}
	scan := func(r rowScanner) (row, error) {
		var id, input string
		err := r.Scan(&id, &input)
		return row{id, readRawJSON(input)}, err
	}
	rows, err := readByIDs(ctx, db, ids, scan, "SELECT id, input FROM decisions WHERE id IN (%s)")
	if err != nil {
		return nil, fmt.Errorf("store: inputs of %d decision records: %w", len(ids), err)
	}
	out := make(map[string]json.RawMessage, len(rows))
	for _, r := range rows {
		out[r.id] = r.input
	}
	return out, nil
}

// HostsByID returns each of the Hosts ids names that exists, by id.
func (db *DB) HostsByID(ctx context.Context, ids []string) (map[string]Host, error) {
	hosts, err := readByIDs(ctx, db, ids, scanHost, "SELECT "+hostColumns+" FROM hosts WHERE id IN (%s)")
	if err != nil {
		return nil, fmt.Errorf("store: %d hosts: %w", len(ids), err)
	}
	out := make(map[string]Host, len(hosts))
	for _, h := range hosts {
		out[h.ID] = h
	}
	return out, nil
}

// readByIDs runs query (its IN list a %s) for the distinct ids, LivePageSize of them a
// statement, and returns every row read.
func readByIDs[T any](ctx context.Context, db *DB, ids []string, scan func(rowScanner) (T, error), query string) ([]T, error) {
	var out []T
	for chunk := range slices.Chunk(slices.Compact(slices.Sorted(slices.Values(ids))), LivePageSize) {
		in, args := inList(chunk)
		rows, err := queryAll(ctx, db.sql, scan, fmt.Sprintf(query, in), args...)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}
