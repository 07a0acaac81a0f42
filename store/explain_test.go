package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"
)

// decisionQueryFilters are the filters auditors use; each must be answered from an index in
// time order, without scanning the table or sorting it.
func decisionQueryFilters() map[string]DecisionFilter {
	cursor := encodeCursor(at(time.Hour), "d-500")
	return map[string]DecisionFilter{
		"newest":                {},
		"subject":               {Subject: "bob@example.com"},
		"host id":               {HostID: "id-web-1"},
		"host name":             {HostName: "web-1"},
		"denied":                {Allow: ptr(false)},
		"since and until":       {Since: at(0), Until: at(time.Hour)},
		"subject, denied, last": {Subject: "bob@example.com", Allow: ptr(false), Since: at(0)},
		"reason":                {Reason: "working hours"},
		"next page":             {After: cursor},
		"subject, next page":    {Subject: "bob@example.com", After: cursor},
		"host name, next page":  {HostName: "web-1", After: cursor},
	}
}

// explain returns the query plan of ListDecisions for f, as text. On PostgreSQL sequential
// scans, bitmap scans and sorts are discouraged for the plan, so that a small test table shows
// whether an index can answer in order (with a large table the planner prefers one by cost);
// a Sort still in the plan means none can.
func explain(ctx context.Context, db *DB, f DecisionFilter) (string, error) {
	return explainWithout(ctx, db, f, "enable_seqscan", "enable_bitmapscan", "enable_sort")
}

// explainWithout is explain with the PostgreSQL plan types in off turned off.
func explainWithout(ctx context.Context, db *DB, f DecisionFilter, off ...string) (string, error) {
	byIndex, err := db.reasonByIndex(ctx, f.Reason)
	if err != nil {
		return "", err
	}
	query, args, _, err := db.decisionQuery(f, byIndex)
	if err != nil {
		return "", err
	}
	return explainQuery(ctx, db, query, args, off...)
}

// explainQuery returns the plan of query with args, as text, the PostgreSQL plan types in off
// turned off.
func explainQuery(ctx context.Context, db *DB, query string, args []any, off ...string) (string, error) {
	var plan []string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		prefix := "EXPLAIN QUERY PLAN "
		if db.d.kind != kindSQLite {
			for _, o := range off {
				if _, err := tx.ExecContext(ctx, "SET LOCAL "+o+" = off"); err != nil {
					return err
				}
			}
			prefix = "EXPLAIN "
		}
		rows, err := tx.QueryContext(ctx, prefix+query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
		}
		return rows.Err()
	})
	return strings.Join(plan, "\n"), err
}

// testDecisionQueriesUseIndexes: every auditor filter reads an index in order: no full scan,
// no sort of the table.
func testDecisionQueriesUseIndexes(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	insertAll(t, db, makeDecisions(50))
	for name, f := range decisionQueryFilters() {
		if f.Reason != "" {
			continue // read from the reason index's few candidates, then sorted: testReasonQueryUsesIndex
		}
		plan, err := explain(ctx, db, f)
		if err != nil {
			t.Fatalf("%s: explain: %v", name, err)
		}
		bad := []string{"TEMP B-TREE", "Seq Scan", "Sort"}
		if db.d.kind == kindSQLite {
			bad = append(bad, "SCAN decisions\n")
			plan += "\n"
		}
		for _, b := range bad {
			if strings.Contains(plan, b) {
				t.Errorf("%s: plan has %q:\n%s", name, b, plan)
			}
		}
		if !strings.Contains(plan, "decisions_") {
			t.Errorf("%s: plan uses no decisions index:\n%s", name, plan)
		}
	}
}

// testMailQueriesUseTheExpiryIndex: every look into a mailbox (a collection, when the next
// message is due, how many wait before a post) starts at the recipient's first unexpired
// message in mail_recipient_expiry, so that it never walks the entries of messages that
// expired or were delivered long ago (on PostgreSQL they stay in an index until a vacuum).
func testMailQueriesUseTheExpiryIndex(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	for i := range 40 {
		m := Mail{Recipient: HostMailbox(fmt.Sprint("h-", i%8)), Body: []byte("{}"), QueuedAt: at(0), ExpiresAt: at(time.Minute)}
		if err := db.PostMail(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	type statement struct {
		query string
		args  []any
	}
	now := db.d.timeArg(at(time.Second))
	queries := map[string]statement{
		"first due":   {firstMailSQL, []any{"host:h-1", now}},
		"collect":     {collectSQL, []any{"host:h-1", now, MaxCollect}},
		"next due":    {nextMailSQL, []any{"host:h-1", now}},
		"post (room)": {db.postMailSQL(), db.mailArgs(Mail{ID: "m-x", Recipient: "host:h-1", Body: []byte("{}"), QueuedAt: at(0), DeliverAt: at(0), ExpiresAt: at(time.Minute)})},
	}
	if db.d.kind == kindPostgres {
		queries["collect with next"] = statement{collectWithNextSQL, []any{"host:h-1", now, MaxCollect}}
		queries["collect many"] = statement{collectManySQL, []any{[]string{"host:h-1", "host:h-2"}, []time.Time{at(time.Second), at(time.Second)}, MaxCollect}}
		queries["post a batch"] = statement{db.postMailRowsSQL(), []any{[]string{"m-y"}, []string{"host:h-1"}, [][]byte{[]byte("{}")},
			[]time.Time{at(0)}, []time.Time{at(0)}, []time.Time{at(time.Minute)}, MaxMail}}
	}
	for name, q := range queries {
		plan, err := explainQuery(ctx, db, q.query, q.args, "enable_seqscan", "enable_bitmapscan")
		if err != nil {
			t.Fatalf("%s: explain: %v", name, err)
		}
		if !strings.Contains(plan, "mail_recipient_expiry") {
			t.Errorf("%s: the plan does not read mail_recipient_expiry:\n%s", name, plan)
		}
	}
}
