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
	out := make(map[string]json.RawMessage, len(ids))
	type row struct {
		id    string
		input json.RawMessage
	}
	scan := func(r rowScanner) (row, error) {
		var id, input string
		err := r.Scan(&id, &input)
		return row{id, readRawJSON(input)}, err
	}
	for chunk := range slices.Chunk(slices.Compact(slices.Sorted(slices.Values(ids))), LivePageSize) {
		in, args := inList(chunk)
		rows, err := queryAll(ctx, db.sql, scan, "SELECT id, input FROM decisions WHERE id IN ("+in+")", args...)
		if err != nil {
			return nil, fmt.Errorf("store: inputs of %d decision records: %w", len(chunk), err)
		}
		for _, r := range rows {
			out[r.id] = r.input
		}
	}
	return out, nil
}

// HostsByID returns each of the Hosts ids names that exists, by id.
func (db *DB) HostsByID(ctx context.Context, ids []string) (map[string]Host, error) {
	out := make(map[string]Host, len(ids))
	for chunk := range slices.Chunk(slices.Compact(slices.Sorted(slices.Values(ids))), LivePageSize) {
		in, args := inList(chunk)
		hosts, err := queryAll(ctx, db.sql, scanHost, "SELECT "+hostColumns+" FROM hosts WHERE id IN ("+in+")", args...)
		if err != nil {
			return nil, fmt.Errorf("store: %d hosts: %w", len(chunk), err)
		}
		for _, h := range hosts {
			out[h.ID] = h
		}
	}
	return out, nil
}
