package store

import (
	"context"
	"time"
)

// Shared statements: on PostgreSQL concurrent calls of one kind (a connect's read of its Host
// and locks, a long-poll's mail collection) are answered together (connectlookup.go,
// collectgroup.go). Unlike the connects' group commit, whose transaction runs for many callers
// and so on none of their contexts, a shared statement runs no longer than its most hurried
// caller would have let its own: a caller's deadline (a long-poll's bound on each store call,
// which lets the orders held in memory out while the database hangs) holds as it did when
// each call was a statement of its own.

// sharedCall is one call a shared statement answers.
type sharedCall interface {
	// callerContext is the context of the call's caller.
	callerContext() context.Context
	// outcome is where the call's outcome goes, once.
	outcome() chan<- error
}

// answerTogether answers calls with run, one statement for all, under ctx bounded by the
// earliest of the callers' deadlines, and sends each call its outcome. When the shared
// statement fails, each call is run alone under its caller's own context, so that only a
// failing one fails and none fails for another's deadline.
func answerTogether[T sharedCall](ctx context.Context, calls []T, run func(context.Context, []T) error) {
	sctx, cancel := withEarliestDeadline(ctx, calls)
	err := run(sctx, calls)
	cancel()
	for _, c := range calls {
		if err != nil && len(calls) > 1 {
			c.outcome() <- run(c.callerContext(), []T{c})
			continue
		}
		c.outcome() <- err
	}
}

// withEarliestDeadline returns ctx bounded by the earliest deadline among the calls' callers,
// if any has one.
func withEarliestDeadline[T sharedCall](ctx context.Context, calls []T) (context.Context, context.CancelFunc) {
	var earliest time.Time
	for _, c := range calls {
		if d, ok := c.callerContext().Deadline(); ok && (earliest.IsZero() || d.Before(earliest)) {
			earliest = d
		}
	}
	if earliest.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, earliest)
}
