package relayhttp

import (
	"errors"
	"os"
	"time"
)

// The stream's side toward the tunnel's requests: the handlers and workers that move chunks
// call these, the net.Conn side is in stream.go.

// deliver takes inbound chunk seq, waiting (until done) while too many bytes are unread.
// A chunk already taken is ignored; one beyond the window is errWindow. Bytes that reach a
// half-open tunnel are its handshake's progress, which the relay is told of.
func (s *stream) deliver(seq uint64, c chunk, done <-chan struct{}) error {
	progressed, err := s.take(seq, c, done)
	if progressed != nil {
		progressed()
	}
	return err
}

// take is deliver with mu held; it returns the progress hook to call when c's bytes were
// taken before the half was authenticated.
func (s *stream) take(seq uint64, c chunk, done <-chan struct{}) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touched = time.Now()
	before := s.inNext
	for {
		switch {
		case s.failure != nil:
			return nil, s.failure
		case seq < s.inNext || s.inFin:
			s.frames.put(c.buf) // a retransmission of what arrived already: dropped here
			return nil, nil
		case seq >= s.inNext+window:
			return nil, errWindow
		case !s.authed && !s.closed && (seq != s.inNext || s.readyN+len(c.data) > preAuthBytes):
			return nil, errWindow // a half-open tunnel holds no more than its hello
		case s.readyN < maxReady || s.closed:
			s.inEarly[seq] = c
			s.drainEarly()
			if s.authed || s.inNext == before || len(c.data) == 0 {
				return nil, nil
			}
			return s.progressed, nil
		}
		if err := s.wait(time.Time{}, done); err != nil {
			return nil, err
		}
	}
}

// drainEarly moves contiguous early chunks into ready; call with mu held.
func (s *stream) drainEarly() {
	for {
		c, ok := s.inEarly[s.inNext]
		if !ok {
			break
		}
		delete(s.inEarly, s.inNext)
		s.inNext++
		if !s.closed {
			if len(c.data) > 0 {
				s.ready = append(s.ready, c)
				s.readyN += len(c.data)
			}
		}
		if c.flags&flagFin != 0 {
			s.inFin = true
			clear(s.inEarly)
			break
		}
	}
	s.notify()
}

// cutLocked cuts the next outbound chunk, the first segment; call with mu held when there is
// something to cut (bytes, or a fin not yet cut).
func (s *stream) cutLocked() (uint64, chunk) {
	var c chunk
	if len(s.outSegs) > 0 {
		q := s.outSegs[0]
		// A view, not a copy, capped at its end: the segment's spare room may fill after it.
		c.data = q.data[:len(q.data):len(q.data)]
		c.seg = q.seg
		c.seg.hold()
		s.outN -= len(q.data)
		if len(s.outSegs) == 1 && len(q.data) < cap(q.data) && !s.outFin {
			s.outSegs[0].data = q.data[len(q.data):] // the last segment keeps its room for the next writes
		} else {
			q.seg.release()
			s.outSegs[0] = queued{}
			s.outSegs = s.outSegs[1:]
		}
	}
	if s.outFin && s.outN == 0 {
		c.flags |= flagFin
		s.finCut = true
		for _, q := range s.outSegs {
			q.seg.release()
		}
		s.outSegs = nil
	}
	seq := s.outNext
	s.outNext++
	s.notify()
	return seq, c
}

// canCut reports whether an outbound chunk is due; call with mu held.
func (s *stream) canCut() bool {
	return !s.finCut && (s.outN > 0 || s.outFin)
}

// cutRun waits until an outbound chunk is due and cuts it and every further one due at once, up
// to max (client side: the sender keeps them until the CS took them, then releases their
// segments). ok is false once fin was cut, the stream failed, done closed or dl (zero: none)
// passed before a chunk was due.
func (s *stream) cutRun(done <-chan struct{}, max int, dl time.Time) (uint64, []chunk, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.failure != nil || s.finCut:
			return 0, nil, false
		case s.canCut():
			first, c := s.cutLocked()
			run := []chunk{c}
			for len(run) < max && s.canCut() {
				_, c = s.cutLocked()
				run = append(run, c)
			}
			return first, run, true
		}
		if s.wait(dl, done) != nil {
			return 0, nil, false
		}
	}
}

// chunkAt returns outbound chunk seq (CS side), cutting it when it is the next one, after
// forgetting every chunk below ack. It waits until hold passes (ok false: nothing yet). The
// caller holds a reference to the chunk's segment and releases it once it wrote the chunk.
func (s *stream) chunkAt(seq, ack uint64, hold time.Time, done <-chan struct{}) (chunk, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touched = time.Now()
	for ; s.acked < min(ack, s.outNext); s.acked++ {
		s.cut[s.acked].seg.release()
		delete(s.cut, s.acked)
	}
	for {
		if c, ok := s.cut[seq]; ok {
			c.seg.hold()
			return c, true, nil
		}
		switch {
		case s.failure != nil:
			return chunk{}, false, s.failure
		case seq < s.acked || s.finCut && seq >= s.outNext:
			return chunk{}, false, errGone
		case seq >= s.acked+window:
			return chunk{}, false, errWindow
		case seq == s.outNext && s.canCut():
			_, c := s.cutLocked()
			s.cut[seq] = c
			c.seg.hold()
			return c, true, nil
		case !s.authed && s.held >= preAuthPolls:
			return chunk{}, false, nil // a half-open tunnel holds no more long-polls than a client makes
		}
		s.held++
		err := s.wait(hold, done)
		s.held--
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return chunk{}, false, nil
			}
			return chunk{}, false, err
		}
	}
}

// idleSince reports when the tunnel last saw network activity, and when it ended (closed or
// failed; zero while it goes on).
func (s *stream) idleSince() (touched, ended time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.touched, s.ended
}

// inboundFrom waits until every inbound chunk below least arrived (or the peer finished), then
// returns the next inbound sequence number and whether the peer finished; ok is false when done
// closed or the stream failed first. A receiver waits so before asking for chunks up to
// least+window, which the CS serves only once acknowledged that far.
func (s *stream) inboundFrom(least uint64, done <-chan struct{}) (next uint64, fin, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.inNext < least && !s.inFin {
		if s.failure != nil || s.wait(time.Time{}, done) != nil {
			return 0, false, false
		}
	}
	return s.inNext, s.inFin, true
}
