package store

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The reason filter (DecisionFilter.Reason) is a case-insensitive substring match of the
// reasons column's text (a JSON list): LIKE on SQLite (ASCII case only), ILIKE on PostgreSQL.
// No B-tree serves it, so migration 0012 gives it a trigram index on each database, which
// only ever narrows the rows the same LIKE or ILIKE then checks: the index changes how fast
// a reason is found, never which records match.
//
// On PostgreSQL pg_trgm's GIN index serves the ILIKE itself, and the planner weighs it against
// the time-ordered scan by the pattern's estimated selectivity. On SQLite an FTS5 table with the
// trigram tokenizer (decision_reasons) lists candidate records; SQLite's planner cannot weigh
// a virtual table, so reasonByIndex asks the index how many records it finds: fewer than
// reasonIndexMaxCandidates, and the page is read from them (fetched by id, checked, sorted);
// more, and the reason is common enough that the time-ordered scan fills a page sooner.

// reasonIndexMaxCandidates bounds the candidates a page of the reason filter reads on SQLite:
// a reason the index finds in more records is looked for by the time-ordered scan instead,
// which stops at a page's worth of matches.
const reasonIndexMaxCandidates = 5000

// trigramLen is the shortest text the trigram index finds: a shorter reason filter (one or
// two characters) is looked for by the scan on SQLite, by a full index scan or the scan on
// PostgreSQL.
const trigramLen = 3

// reasonText is the text the reason filter looks for in the stored JSON: s as JSON stores it
// inside a string (quotes, backslashes and control characters escaped, invalid UTF-8
// replaced).
func reasonText(s string) (string, error) {
	quoted, err := encodeJSON(s)
	if err != nil {
		return "", err
	}
	return quoted[1 : len(quoted)-1], nil
}

// reasonPhrase is the FTS5 query that finds the records whose reasons contain text (folding
// case as the trigram tokenizer does: a superset of LIKE's ASCII folding); ok is false for a
// text the trigram index cannot find (shorter than trigramLen characters).
func reasonPhrase(text string) (phrase string, ok bool) {
	if utf8.RuneCountInString(text) < trigramLen {
		return "", false
	}
	return `"` + strings.ReplaceAll(text, `"`, `""`) + `"`, true
}

// reasonCandidates is the condition that keeps the records the SQLite reason index lists for
// the FTS5 query in its one argument.
const reasonCandidates = "id IN (SELECT decision_id FROM decision_reasons WHERE decision_reasons MATCH ?)"

// reasonByIndex returns the FTS5 query with which a page of the reason filter reason is read
// from the SQLite reason index, or "" when the filter is better served without it: on
// PostgreSQL (its planner chooses), for no reason or one too short for trigrams, and for a
// reason the index finds in reasonIndexMaxCandidates records or more.
func (db *DB) reasonByIndex(ctx context.Context, reason string) (string, error) {
	if db.d.kind != kindSQLite || reason == "" {
		return "", nil
	}
	text, err := reasonText(reason)
	if err != nil {
		return "", err
	}
	phrase, ok := reasonPhrase(text)
	if !ok {
		return "", nil
	}
	var n int
	err = db.sql.QueryRowContext(ctx, fmt.Sprintf(
		"SELECT count(*) FROM (SELECT 1 FROM decision_reasons WHERE decision_reasons MATCH $1 LIMIT %d)",
		reasonIndexMaxCandidates), phrase).Scan(&n)
	if err != nil {
		return "", fmt.Errorf("count reason candidates: %w", err)
	}
	if n >= reasonIndexMaxCandidates {
		return "", nil
	}
	return phrase, nil
}
