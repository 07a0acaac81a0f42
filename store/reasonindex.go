package store

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// The reason filter (DecisionFilter.Reason) is a case-insensitive substring match of the
// reasons column's text (a JSON list): LIKE on SQLite (ASCII case only), ILIKE on PostgreSQL.
// No B-tree serves it, so migration 0012 gives it an index on each database, which only ever
// narrows the rows the same LIKE or ILIKE then checks: the index changes how fast a reason is
// found, never which records match.
//
// On PostgreSQL pg_trgm's GIN index serves the ILIKE itself, and the planner weighs it against
// the time-ordered scan by the pattern's estimated selectivity. On SQLite the distinct reasons
// texts form a dictionary (decision_reason_texts) with an FTS5 trigram index over it, and
// decision_reason_refs lists each text's records: the texts the filter matches are found by
// the trigram index (or, for a text shorter than a trigram, by LIKE over the dictionary) and
// checked with the LIKE, and their records are the page's candidates. SQLite's planner cannot
// weigh that, so reasonByIndex counts the candidates first: fewer than
// reasonIndexMaxCandidates, and the page is read from them (fetched by id, sorted); more, and
// the reason is common enough that the time-ordered scan fills a page sooner.

// reasonQueryOptions are the driver options that precede the arguments of a reason filter's
// query. On PostgreSQL and CockroachDB the query runs as an unnamed statement, planned anew
// with its pattern: a cached statement's generic plan, made for no pattern in particular,
// would pick one way for every reason (pgx's statement cache prepares each query text once,
// and after five runs PostgreSQL may keep a generic plan), reading a common reason through the
// index or a rare one through the whole log.
func (db *DB) reasonQueryOptions(f DecisionFilter) []any {
	if f.Reason == "" || db.d.kind == kindSQLite {
		return nil
	}
	return []any{pgx.QueryExecModeExec}
}

// reasonIndexMaxCandidates bounds the candidates a page of the reason filter reads on SQLite:
// a reason the index finds in more records is looked for by the time-ordered scan instead,
// which stops at a page's worth of matches.
const reasonIndexMaxCandidates = 5000

// trigramLen is the shortest text a trigram index finds: a shorter reason filter (one or two
// characters) is looked for by LIKE over the dictionary on SQLite, by a full index scan or the
// time-ordered scan on PostgreSQL.
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

// reasonTextsSQL is the subquery of the dictionary texts that contain text (the reason
// filter's reasonText), and its arguments: found by the trigram index and checked with the
// filter's LIKE pattern, or, for a text shorter than a trigram, by the LIKE alone.
func reasonTextsSQL(text, pattern string) (string, []any) {
	like := "reasons LIKE ? ESCAPE '" + likeEscape + "'"
	phrase, ok := reasonPhrase(text)
	if !ok {
		return "SELECT id FROM decision_reason_texts WHERE " + like, []any{pattern}
	}
	return "SELECT id FROM decision_reason_texts WHERE id IN " +
		"(SELECT rowid FROM decision_reason_index WHERE decision_reason_index MATCH ?) AND " + like, []any{phrase, pattern}
}

// reasonCandidatesBy makes SQLite fetch the reason index's candidates by id (the primary key's
// index), rather than walk another index of the filter (a subject's records, say) and look
// each up among the candidates.
const reasonCandidatesBy = " INDEXED BY sqlite_autoindex_decisions_1"

// addReasonCandidates adds to w the condition that keeps the records of the dictionary texts
// that contain reason (SQLite).
func addReasonCandidates(w *where, reason string) error {
	text, err := reasonText(reason)
	if err != nil {
		return err
	}
	pattern, err := containsPattern(reason)
	if err != nil {
		return err
	}
	texts, args := reasonTextsSQL(text, pattern)
	w.add("id IN (SELECT decision_id FROM decision_reason_refs WHERE text_id IN ("+texts+"))", args...)
	return nil
}

// reasonByIndex reports whether a page of the reason filter reason is better read from the
// SQLite reason index's candidates: not on PostgreSQL (its planner chooses), nor without a
// reason, nor for a reason found in reasonIndexMaxCandidates records or more.
func (db *DB) reasonByIndex(ctx context.Context, reason string) (bool, error) {
	if db.d.kind != kindSQLite || reason == "" {
		return false, nil
	}
	text, err := reasonText(reason)
	if err != nil {
		return false, err
	}
	pattern, err := containsPattern(reason)
	if err != nil {
		return false, err
	}
	texts, args := reasonTextsSQL(text, pattern)
	w := &where{}
	w.add("text_id IN ("+texts+")", args...)
	var n int
	err = db.sql.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM decision_reason_refs%s LIMIT %d)",
		w, reasonIndexMaxCandidates), w.args...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("count reason candidates: %w", err)
	}
	return n < reasonIndexMaxCandidates, nil
}
