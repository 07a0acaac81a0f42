package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// maxCursorLen bounds the length (bytes) of a pagination cursor accepted from a caller.
const maxCursorLen = 1024

// likeEscape is the escape character of the store's LIKE patterns.
const likeEscape = "!"

// encodeJSON encodes v without HTML escaping, so that stored text matches substring searches.
func encodeJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("%w: encode JSON: %w", ErrInvalid, err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// encodeMap encodes a string map; nil is stored as {}.
func encodeMap(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	return encodeJSON(m)
}

// encodeList encodes a string list; nil is stored as [].
func encodeList(l []string) (string, error) {
	if l == nil {
		return "[]", nil
	}
	return encodeJSON(l)
}

// decodeMap decodes a stored map; an empty one reads back as nil.
func decodeMap(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode stored map: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// decodeList decodes a stored list; an empty one reads back as nil.
func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode stored list: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// rawJSON checks a JSON document for storage; empty is stored as "".
func rawJSON(what string, raw json.RawMessage) (string, error) {
	if len(raw) > 0 && !json.Valid(raw) {
		return "", fmt.Errorf("%w: %s is not valid JSON", ErrInvalid, what)
	}
	return string(raw), nil
}

// readRawJSON turns stored text back into a JSON document; "" reads back as nil.
func readRawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// containsPattern is a LIKE pattern (escape likeEscape) matching JSON text that contains s as
// part of one JSON string: s is escaped as JSON would store it, and LIKE's wildcards are quoted.
func containsPattern(s string) (string, error) {
	inner, err := reasonText(s)
	if err != nil {
		return "", err
	}
	inner = strings.NewReplacer(likeEscape, likeEscape+likeEscape, "%", likeEscape+"%", "_", likeEscape+"_").Replace(inner)
	return "%" + inner + "%", nil
}

// cursor is the keyset position after the last decision of a page.
type cursor struct {
	Micros int64  `json:"t"`
	ID     string `json:"id"`
}

// encodeCursor makes the opaque cursor that follows the decision at (t, id).
func encodeCursor(t time.Time, id string) string {
	b, _ := json.Marshal(cursor{Micros: t.UnixMicro(), ID: id}) // a struct of an int and a string always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses a cursor made by encodeCursor; anything else is ErrInvalid.
func decodeCursor(s string) (time.Time, string, error) {
	if len(s) > maxCursorLen {
		return time.Time{}, "", fmt.Errorf("%w: cursor longer than %d bytes", ErrInvalid, maxCursorLen)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: cursor: %w", ErrInvalid, err)
	}
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return time.Time{}, "", fmt.Errorf("%w: cursor is malformed", ErrInvalid)
	}
	if c.ID == "" {
		return time.Time{}, "", fmt.Errorf("%w: cursor has no id", ErrInvalid)
	}
	return time.UnixMicro(c.Micros).UTC(), c.ID, nil
}

// where builds a WHERE clause whose ? placeholders become $1, $2, … in order.
type where struct {
	conds []string
	args  []any
}

// add appends a condition with one argument per ? in cond.
func (w *where) add(cond string, args ...any) {
	var b strings.Builder
	for i, part := range strings.Split(cond, "?") {
		if i > 0 {
			fmt.Fprintf(&b, "$%d", len(w.args)+i)
		}
		b.WriteString(part)
	}
	w.conds = append(w.conds, b.String())
	w.args = append(w.args, args...)
}

// eachPage calls fn with each page next reads, from the first (next(nil)) to the last: a page
// of fewer than size rows is the last, and each later page starts after the row that ended the
// one before. It is the loop of every uncapped read of a table by keyset; it stops at the first
// error of next or fn and returns it.
func eachPage[T any](size int, next func(after *T) ([]T, error), fn func([]T) error) error {
	var after *T
	for {
		page, err := next(after)
		if err != nil {
			return err
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if len(page) < size {
			return nil
		}
		after = &page[len(page)-1]
	}
}

// String returns " WHERE c1 AND c2 …", or "" without conditions.
func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// clampLimit applies a default and an upper bound to a page size.
func clampLimit(n, def, hi int) int {
	if n <= 0 {
		return def
	}
	return min(n, hi)
}

// pageOf cuts rows, read with a LIMIT of limit+1, to a page of limit rows and the cursor of the
// page after it ("" when there was no row more).
func pageOf[T any](rows []T, limit int, cursor func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, cursor(rows[limit-1])
}

// queryPage reads the page of at most limit rows that query (ordered, without a LIMIT of its
// own) selects, and the cursor of the page after it ("" when no row is left): it reads one row
// more to tell.
func queryPage[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args []any, limit int, cursor func(T) string) ([]T, string, error) {
	rows, err := queryAll(ctx, q, scan, fmt.Sprintf("%s LIMIT %d", query, limit+1), args...)
	if err != nil {
		return nil, "", err
	}
	rows, next := pageOf(rows, limit, cursor)
	return rows, next, nil
}

// addBefore keeps, in w, the rows after the cursor's row in a listing ordered by (col, id)
// descending, newest first; nothing when cursor is "". ErrInvalid for a cursor that
// encodeCursor did not make.
func (db *DB) addBefore(w *where, col, cursor string) error {
	if cursor == "" {
		return nil
	}
	t, id, err := decodeCursor(cursor)
	if err != nil {
		return err
	}
	// A row-value comparison: both databases seek the (…, col, id) indexes with it.
	w.add("("+col+", id) < (?, ?)", db.d.timeArg(t), id)
	return nil
}

// CheckCursor reports whether s is a cursor ListDecisions made (DecisionPage's next); anything
// else is ErrInvalid. It lets a caller refuse a bad cursor before it asks for a page.
func CheckCursor(s string) error {
	_, _, err := decodeCursor(s)
	return err
}
