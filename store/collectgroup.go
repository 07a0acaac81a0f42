package store

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"
)

// Group collection of mail on PostgreSQL. A Host's long-poll takes its mail with a DELETE, a
// round trip of its own; when a batch of grants commits, the long-polls of its Hosts wake
// together and would each send one. Concurrent collections share a statement instead
// (collectManySQL): the first that finds none running sends its own, and those that arrive
// meanwhile go together in the next, each with its recipient and its time. They stay out of
// the connects' write transactions (groupcommit.go), which are SERIALIZABLE: there a
// collection's DELETE would conflict with another replica's posts to the same mailbox and fail
// whole batches of records; on its own, at READ COMMITTED, it waits for such a post's row
// locks and goes on.

const (
	// collectWithNextSQL is collectSQL and a look at the rest of the mailbox in one statement: a
	// row per message taken, then a row without an id whose last column is when the earliest
	// unexpired message not taken is due (NULL for none). Both parts read the mailbox as the
	// statement began, so the second leaves out the messages the first takes; what it finds is
	// due already when the DELETE took its bound ($3) or a concurrent collection took the
	// messages first, and the caller then collects again at once.
	collectWithNextSQL = "WITH taken AS (" + pgCollectSQL + ") SELECT " + mailColumns + ", NULL FROM taken" +
		" UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, (SELECT min(deliver_at) FROM mail" +
		" WHERE recipient = $1 AND expires_at > $2 AND id NOT IN (SELECT id FROM taken))"
	// collectManySQL is collectWithNextSQL for the recipients in $1, each collecting at its
	// time in $2 and taking at most $3 messages, the soonest to expire: the rows of the messages
	// taken, then a row without an id per recipient, naming it, with when its earliest unexpired
	// message not taken is due. The recipients must differ.
	collectManySQL = "WITH c AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS c (recipient, at))," +
		" taken AS (DELETE FROM mail WHERE mail.id IN (SELECT d.id FROM c CROSS JOIN LATERAL (SELECT mail.id FROM mail" +
		" WHERE mail.recipient = c.recipient AND mail.deliver_at <= c.at AND mail.expires_at > c.at" +
		" ORDER BY mail.expires_at LIMIT $3 FOR UPDATE SKIP LOCKED) AS d)" +
		" RETURNING mail.id, mail.recipient, mail.body, mail.queued_at, mail.deliver_at, mail.expires_at)" +
		" SELECT " + mailColumns + ", NULL FROM taken" +
		" UNION ALL SELECT NULL, c.recipient, NULL, NULL, NULL, NULL, (SELECT min(deliver_at) FROM mail" +
		" WHERE mail.recipient = c.recipient AND mail.expires_at > c.at AND mail.id NOT IN (SELECT id FROM taken)) FROM c"
)

// collectBatch takes the mail of a batch of collections, a round of distinct recipients at a
// time (a recipient named twice is collected again in the next round, once the first has taken
// its due messages), and hands each caller its outcome (answerTogether: a round's statement is
// bounded by its callers' deadlines, and when it fails each collection is tried again alone).
// A collection whose caller went away first is left out.
func (db *DB) collectBatch(ctx context.Context, batch []*pendingCollect) {
	batch = slices.DeleteFunc(batch, func(p *pendingCollect) bool {
		return !p.state.CompareAndSwap(collectQueued, collectTaken)
	})
	for len(batch) > 0 {
		var round []*pendingCollect
		round, batch = distinctRecipients(batch)
		answerTogether(ctx, round, db.collectRound)
	}
}

// distinctRecipients splits batch into the first collection of each recipient, ordered by
// recipient (so that concurrent statements lock mailboxes in one order), and the rest, in
// their order.
func distinctRecipients(batch []*pendingCollect) (round, rest []*pendingCollect) {
	seen := make(map[string]bool, len(batch))
	for _, p := range batch {
		if seen[p.recipient] {
			rest = append(rest, p)
			continue
		}
		seen[p.recipient] = true
		round = append(round, p)
	}
	slices.SortFunc(round, func(a, b *pendingCollect) int { return cmp.Compare(a.recipient, b.recipient) })
	return round, rest
}

// collectRound takes the due messages of round's collections, whose recipients differ, with
// one statement, and settles each with its mail and when its next message is due.
func (db *DB) collectRound(ctx context.Context, round []*pendingCollect) error {
	var rows *sql.Rows
	var err error
	if len(round) == 1 {
		rows, err = db.sql.QueryContext(ctx, collectWithNextSQL, round[0].recipient, round[0].at, MaxCollect)
	} else {
		recipients, times := make([]string, len(round)), make([]time.Time, len(round))
		for i, p := range round {
			recipients[i], times[i] = p.recipient, p.now
		}
		rows, err = db.sql.QueryContext(ctx, collectManySQL, recipients, times, MaxCollect)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	return settleCollections(rows, round)
}

// settleCollections reads the rows of collectWithNextSQL (for round's one collection) or
// collectManySQL and settles round's collections with them. A recipient without a row of its
// own, which collectWithNextSQL does not name, is round's first.
func settleCollections(rows *sql.Rows, round []*pendingCollect) error {
	byRecipient := make(map[string]*pendingCollect, len(round))
	for _, p := range round {
		byRecipient[p.recipient] = p
	}
	mail := make(map[*pendingCollect][]Mail, len(round))
	due := make(map[*pendingCollect]*time.Time, len(round))
	for rows.Next() {
		var m Mail
		var id, recipient sql.NullString
		var next *time.Time
		err := rows.Scan(&id, &recipient, &m.Body, scanTime(&m.QueuedAt), scanTime(&m.DeliverAt), scanTime(&m.ExpiresAt), scanNullTime(&next))
		if err != nil {
			return err
		}
		p := round[0]
		if recipient.Valid {
			p = byRecipient[recipient.String]
		}
		if p == nil {
			continue // not asked for: no collection of this round names it
		}
		if !id.Valid {
			due[p] = next
			continue
		}
		m.ID, m.Recipient = id.String, recipient.String
		mail[p] = append(mail[p], m)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range round {
		p.settle(mail[p], due[p])
		p.drained = due[p] == nil // no unexpired message is left: the rest would have given a time
	}
	return nil
}
