package ticket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Replay log format
//
// A replay log is a directory of segment files, one per minute of expiry:
//
//	replay-<minute>.log   <minute> = unix seconds / 60 of the expiries it holds, in decimal
//
// Each segment is a sequence of fixed-size records, appended and synced before the id they
// record is accepted:
//
//	8B  big-endian expiry, unix seconds (when the id may be forgotten)
//	16B replayKey: the first 16 bytes of SHA-256(ticket id)
//	4B  big-endian CRC-32C of the 24 bytes before
//
// A segment is deleted whole once its minute has passed, so the log holds at most the ids of
// the last few minutes and never needs rewriting. On open, a record whose checksum fails (a
// write torn by a power cut: it was never acknowledged) is skipped, and a partial record at
// the end is cut off so that appends stay aligned.
const (
	// segmentSpan is the range of expiries one segment holds.
	segmentSpan = time.Minute
	// recordLen is the size of one record, in bytes.
	recordLen = 8 + len(replayKey{}) + 4
	// segmentPrefix and segmentSuffix frame a segment's file name.
	segmentPrefix = "replay-"
	segmentSuffix = ".log"
	// logFileMode and logDirMode keep the log private to the CS's user.
	logFileMode = 0o600
	logDirMode  = 0o700
)

// crc32c is the CRC-32C (Castagnoli) of b. crc32.MakeTable builds the tables once, on first
// use: at package initialization every portcullis command (a Guest's exec too) paid for them.
func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// errLogClosed is the failure of an append after close.
var errLogClosed = errors.New("ticket: replay log closed")

// replayLog appends used ids to the segments of a directory, many callers' records per write
// and sync (group commit): each append returns once its record is on disk.
type replayLog struct {
	dir  string
	lock *os.File // holds the directory's lock (lockDir) until close

	mu       sync.Mutex
	idle     *sync.Cond // signalled when flushing ends
	queue    *logBatch  // records for the next write
	flushing bool       // one caller writes at a time; the others wait for their batch
	closed   bool
	files    map[int64]*os.File // open segments by minute; only the flushing caller touches them
}

// logBatch is the records of one write, by segment, and its outcome.
type logBatch struct {
	recs map[int64][]byte
	done chan struct{}
	err  error
}

func newBatch() *logBatch {
	return &logBatch{recs: map[int64][]byte{}, done: make(chan struct{})}
}

// OpenReplayCache returns a ReplayCache that records every id it accepts in the replay log in
// dir (created if missing) before Use returns, and that remembers the unexpired ids earlier
// processes recorded there: a used ticket stays used across a restart, or a crash right after
// it was accepted. One cache at a time may use dir: it holds an exclusive OS lock on it until
// Close, and a second open, in this process or another, fails with ErrReplayLogInUse. A dir
// that has never held a replay log (new, or lost and recreated) cannot say which tickets were
// used, so the cache's KnownSince is then now, as for a cache without a log. Close it when done.
func OpenReplayCache(dir string, now time.Time) (_ *ReplayCache, err error) {
	if err := os.MkdirAll(dir, logDirMode); err != nil {
		return nil, fmt.Errorf("ticket: replay log: %w", err)
	}
	lock, hadLock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	r := &ReplayCache{log: &replayLog{dir: dir, lock: lock, queue: newBatch(), files: map[int64]*os.File{}}}
	r.log.idle = sync.NewCond(&r.log.mu)
	defer func() {
		if err != nil {
			_ = r.log.close()
		}
	}()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ticket: replay log: %w", err)
	}
	hadLog := hadLock
	for _, e := range entries {
		minute, ok := segmentMinute(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		hadLog = true
		path := filepath.Join(dir, e.Name())
		if !segmentEnd(minute).After(now) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("ticket: replay log: %w", err)
			}
			continue
		}
		if err := r.loadSegment(path, now); err != nil {
			return nil, err
		}
		// Open for appends, so that the segment is deleted in its turn like the new ones.
		if _, err := r.log.segment(minute); err != nil {
			return nil, fmt.Errorf("ticket: replay log: %w", err)
		}
	}
	if !hadLog {
		r.KnownSince = now
	}
	return r, nil
}

// loadSegment remembers the unexpired ids of one segment and cuts off a partial last record.
func (r *ReplayCache) loadSegment(path string, now time.Time) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ticket: replay log: %w", err)
	}
	whole := len(data) / recordLen * recordLen
	for rec := range decodeRecords(data[:whole]) {
		if rec.exp.After(now) {
			r.remember(rec.key, rec.exp) // beyond Limit too: a used id is never forgotten early
		}
	}
	if whole < len(data) {
		if err := os.Truncate(path, int64(whole)); err != nil {
			return fmt.Errorf("ticket: replay log: cut a torn record: %w", err)
		}
	}
	return nil
}

// logRecord is one decoded record.
type logRecord struct {
	key replayKey
	exp time.Time
}

// decodeRecords yields the records of data whose checksum holds, skipping the others and a
// partial record at the end.
func decodeRecords(data []byte) func(yield func(logRecord) bool) {
	return func(yield func(logRecord) bool) {
		for ; len(data) >= recordLen; data = data[recordLen:] {
			body, sum := data[:recordLen-4], binary.BigEndian.Uint32(data[recordLen-4:recordLen])
			if crc32c(body) != sum {
				continue
			}
			rec := logRecord{exp: time.Unix(int64(binary.BigEndian.Uint64(body)), 0)}
			copy(rec.key[:], body[8:])
			if !yield(rec) {
				return
			}
		}
	}
}

// encodeRecord returns the record of k until exp.
func encodeRecord(k replayKey, exp time.Time) []byte {
	b := make([]byte, 0, recordLen)
	b = binary.BigEndian.AppendUint64(b, uint64(exp.Unix()))
	b = append(b, k[:]...)
	return binary.BigEndian.AppendUint32(b, crc32c(b))
}

// segmentMinute parses a segment's file name.
func segmentMinute(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, segmentSuffix); !ok {
		return 0, false
	}
	m, err := strconv.ParseInt(s, 10, 64)
	return m, err == nil
}

// minuteOf is the segment of an expiry.
func minuteOf(exp time.Time) int64 {
	return exp.Unix() / int64(segmentSpan/time.Second)
}

// segmentEnd is when every expiry of a segment has passed.
func segmentEnd(minute int64) time.Time {
	return time.Unix((minute+1)*int64(segmentSpan/time.Second), 0)
}

// append writes the record of k until exp and returns once it is synced: the caller that finds
// no write in progress writes every queued batch; the others wait for theirs.
func (l *replayLog) append(k replayKey, exp, now time.Time) error {
	minute := minuteOf(exp)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errLogClosed
	}
	mine := l.queue
	mine.recs[minute] = append(mine.recs[minute], encodeRecord(k, exp)...)
	if l.flushing {
		l.mu.Unlock()
		<-mine.done
		return mine.err
	}
	l.flushing = true
	for len(l.queue.recs) > 0 {
		b := l.queue
		l.queue = newBatch()
		l.mu.Unlock()
		b.err = l.write(b, now)
		close(b.done)
		l.mu.Lock()
	}
	l.flushing = false
	l.idle.Broadcast()
	l.mu.Unlock()
	return mine.err
}

// write appends a batch to its segments, syncs them, and deletes the segments whose minute
// has passed. Only the flushing caller runs it.
func (l *replayLog) write(b *logBatch, now time.Time) error {
	var errs []error
	for minute, recs := range b.recs {
		f, err := l.segment(minute)
		if err == nil {
			_, err = f.Write(recs)
		}
		if err == nil {
			err = f.Sync()
		}
		errs = append(errs, err)
	}
	for minute, f := range l.files {
		if !segmentEnd(minute).After(now) {
			delete(l.files, minute)
			errs = append(errs, f.Close(), os.Remove(f.Name()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ticket: replay log: %w", err)
	}
	return nil
}

// segment returns the open segment of minute, creating it (and syncing the directory, so that
// its name survives a power cut) when it is new.
func (l *replayLog) segment(minute int64) (*os.File, error) {
	if f, ok := l.files[minute]; ok {
		return f, nil
	}
	path := filepath.Join(l.dir, segmentPrefix+strconv.FormatInt(minute, 10)+segmentSuffix)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, logFileMode)
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := syncDir(l.dir); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	l.files[minute] = f
	return f, nil
}

// close waits for a write in progress, then closes the segments; later appends fail.
func (l *replayLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for l.flushing {
		l.idle.Wait()
	}
	var errs []error
	for minute, f := range l.files {
		delete(l.files, minute)
		errs = append(errs, f.Close())
	}
	if l.lock != nil { // last: the segments are closed before another process may open them
		errs = append(errs, l.lock.Close())
		l.lock = nil
	}
	return errors.Join(errs...)
}
