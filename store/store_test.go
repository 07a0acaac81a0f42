package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
)

// TestMain starts one PostgreSQL server for the package; each Postgres case gets its own database.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestStoreSQLite runs the suite against SQLite files in temporary directories.
func TestStoreSQLite(t *testing.T) {
	runSuite(t, func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "portcullis.db")
	})
}

// TestStorePostgres runs the suite against a real PostgreSQL server.
func TestStorePostgres(t *testing.T) {
	runSuite(t, func(t *testing.T) string { return pgtest.Start(t) })
}

// suiteCase is one behaviour every backend must show; dsn names a fresh, empty database.
type suiteCase struct {
	name string
	run  func(t *testing.T, dsn string)
}

// runSuite runs every case against a fresh database from newDSN.
func runSuite(t *testing.T, newDSN func(t *testing.T) string) {
	cases := []suiteCase{
		{"enrollment token is single use", testTokenSingleUse},
		{"enrollment token consumed once under concurrency", testTokenConcurrentConsume},
		{"enroll host is atomic", testEnrollHostAtomic},
		{"hosts list, disable, touch, delete", testHosts},
		{"hosts listed a page at a time", testListHostsByPage},
		{"relays upsert and list", testRelays},
		{"relay enrolls once with a relay token only", testEnrollRelay},
		{"credential grants once, heartbeat counters rise", testCredentialGrantsAndHeartbeatCounters},
		{"sessions create, end once, list", testSessions},
		{"session end keeps the CS's bytes", testSessionEndKeepsBytes},
		{"host end refines a generic reason", testHostEndRefinesAGenericReason},
		{"every live session visited once, across pages", testEachLiveSession},
		{"live sessions ended a page at a time", testEndSessionsByPage},
		{"the ended among sessions a relay holds", testEndedSessionsAmong},
		{"a re-evaluation pass reads its records and Hosts a page at a time", testReevaluationReads},
		{"sessions listed a page at a time", testListSessionsByPage},
		{"locks create, match, expire, remove", testLocks},
		{"every lock in force read, across pages", testEachActiveLock},
		{"a lock is seen by every later read", testALockIsSeenByEveryLaterRead},
		{"lease race has one winner", testLeaseRace},
		{"lease renew, expire, release", testLeaseLifecycle},
		{"mail is delivered once, in order", testMailDeliveredOnce},
		{"mail is due, expires, fills up", testMailTiming},
		{"posted mail is collected as any other", testCollectPostedMail},
		{"orders are not bound by the mailbox", testOrdersAreNotBoundByTheMailbox},
		{"a collection takes at most MaxCollect", testACollectionTakesAtMostMaxCollect},
		{"two sequencers never both append", testAppendLogConflicts},
		{"the log queue holds every record until it is logged", testLogQueue},
		{"the log queue takes the records not logged before it", testLogQueueMigration},
		{"decision insert and get", testDecisionRoundTrip},
		{"decision filters", testDecisionFilters},
		{"decision pagination", testDecisionPagination},
		{"concurrent decision inserts all commit", testConcurrentInserts},
		{"decision queries use indexes", testDecisionQueriesUseIndexes},
		{"reason index selects what the scan does", testReasonIndexMatchesScan},
		{"reason query uses the reason index", testReasonQueryUsesIndex},
		{"reason index covers older records", testReasonIndexCoversOlderRecords},
		{"group commit fails only the bad record", testGroupCommitFailsOnlyTheBadRecord},
		{"group commit honours the caller's context", testGroupCommitHonoursTheCallersContext},
		{"a decision and its session commit together", testADecisionAndItsSessionCommitTogether},
		{"a grant commits with its mail", testAGrantCommitsWithItsMail},
		{"a grant says whether its mail was posted", testAGrantSaysWhetherItsMailWasPosted},
		{"mail queries use the expiry index", testMailQueriesUseTheExpiryIndex},
		{"no collected mail is lost", testNoCollectedMailIsLost},
		{"collections together take what each alone would", testCollectionsTogether},
		{"two replicas collect every message once", testTwoReplicasCollectEveryMessageOnce},
		{"grants and collections share batches", testGrantsAndCollectionsShareBatches},
		{"writes are timed by work", testWritesAreTimedByWork},
		{"decision outbox queues every commit until acknowledged", testDecisionOutbox},
		{"re-open keeps schema and data", testReopen},
		{"concurrent opens migrate once", testConcurrentOpen},
		{"failed migration leaves no trace", testFailedMigration},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newDSN(t))
		})
	}
}

// openStore opens dsn and closes the store at cleanup.
func openStore(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// t0 is a Tuesday, 10:00 in Copenhagen, with sub-microsecond digits the store drops.
var t0 = time.Date(2025, 3, 4, 9, 0, 0, 123456789, time.UTC)

// at is t0 plus d, as the store keeps it (µs, UTC).
func at(d time.Duration) time.Time { return normTime(t0.Add(d)) }

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
