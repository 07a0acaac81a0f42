package relayhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// receiver asks for the runs of span chunks first, first+Receivers, … in turn (run k holds
// chunks k*span up to (k+1)*span) and delivers their chunks as they stream in. An answer that
// ends early (the CS had nothing more for a while, or the proxy cut it) is followed by a request
// for the rest of the run.
func (c *clientConn) receiver(first uint64) {
	idle := doubling(minIdleBackoff, maxIdleBackoff)
	for run := first; ; run += Receivers {
		for seq, end := run*span, (run+1)*span; seq < end; {
			ack, fin, ok := c.inboundFrom(max(end, window)-window, c.stop)
			if fin || !ok {
				return
			}
			var got uint64
			var gone bool
			err := c.retry(func() (bool, error) {
				var done bool
				var err error
				got, gone, done, err = c.fetch(seq, end-seq, ack)
				return done, err
			})
			switch {
			case err != nil:
				c.fail(err)
				return
			case gone:
				return
			case got == 0:
				if !c.pause(idle.NextBackOff()) {
					return
				}
				continue
			}
			idle.Reset()
			seq += got
		}
	}
}

// fetch asks once for up to n chunks from seq on and delivers those that arrive: got counts
// them (0 on an empty long-poll); gone means the stream ended before seq; done false means
// retry (nothing arrived, and the relay did not answer).
func (c *clientConn) fetch(seq, n, ack uint64) (got uint64, gone, done bool, err error) {
	ctx, cancel := context.WithTimeout(c.ctx, requestTimeout)
	defer cancel()
	resp, err := c.request(ctx, http.MethodGet, PathRecv, c.query(seq, n, &ack), nil)
	if err != nil {
		return 0, false, false, nil
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusConflict, resp.StatusCode >= 500:
		return 0, false, false, nil
	case resp.StatusCode == http.StatusNoContent:
		return 0, false, true, nil
	case resp.StatusCode == http.StatusGone:
		return 0, true, true, nil
	case resp.StatusCode != http.StatusOK:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, false, false, fmt.Errorf("%w: recv chunk %d: HTTP %d: %s", errReset, seq, resp.StatusCode, bytes.TrimSpace(msg))
	}
	body := io.LimitReader(resp.Body, maxFrames)
	for got < n {
		ch, err := readFrame(body, c.frames)
		switch {
		case errors.Is(err, io.EOF):
			return got, false, got > 0, nil // the run ended early: ask for the rest
		case errors.Is(err, ErrBadChunk):
			return got, false, false, fmt.Errorf("%w: chunk %d: %w", errReset, seq+got, err)
		case err != nil:
			return got, false, got > 0, nil // cut short: ask again for what is missing
		}
		if err := c.deliver(seq+got, ch, c.stop); err != nil {
			return got, false, false, fmt.Errorf("%w: chunk %d: %w", errReset, seq+got, err)
		}
		got++
	}
	return got, false, true, nil
}
