package relayhttp

import (
	"context"
	"io"
	"net/http"
	"slices"
	"time"
)

// sender streams runs of outbound chunks, one send request each, and sends a run again, whole,
// until the CS holds it. While its request streams, it alone cuts chunks: the runs stay in
// order, each at most span chunks.
func (c *clientConn) sender() {
	for {
		seq, run, streamed, ok := c.streamRun()
		if !ok {
			return
		}
		if streamed {
			releaseRun(run)
			continue
		}
		body := framesOf(run)
		releaseRun(run) // the body is a copy
		// The streamed request failed: again at once (a proxy may have closed its connection),
		// then with pauses.
		if done, err := c.post(seq, body); done || err != nil {
			if err != nil {
				c.fail(err)
				return
			}
			continue
		}
		if err := c.retry(func() (bool, error) { return c.post(seq, body) }); err != nil {
			c.fail(err)
			return
		}
	}
}

// streamRun cuts the next run and posts it as it is cut: the first chunks due, then each
// further one as soon as it is due, until the run holds span chunks or none came within
// streamLinger. streamed is true when the CS took the run; ok false when there is nothing
// more to send.
func (c *clientConn) streamRun() (seq uint64, run []chunk, streamed, ok bool) {
	c.cutting.Lock()
	seq, run, ok = c.cutRun(c.stop, span, time.Time{})
	if !ok {
		c.cutting.Unlock()
		return 0, nil, false, false
	}
	pr, pw := io.Pipe()
	answered := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(c.ctx, requestTimeout)
		defer cancel()
		status := 0
		if resp, err := c.request(ctx, http.MethodPost, PathSend, c.query(seq, 0, nil), pr); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			status = resp.StatusCode
		}
		_ = pr.CloseWithError(io.ErrClosedPipe) // a writer still writing stops
		answered <- status
	}()
	// The pipe's reader has copied every byte once Write returns: one buffer serves the run.
	frames := appendFrames(nil, run)
	_, err := pw.Write(frames)
	for err == nil && len(run) < span {
		_, more, ok := c.cutRun(c.stop, span-len(run), time.Now().Add(streamLinger))
		if !ok {
			break
		}
		run = append(run, more...)
		frames = appendFrames(frames[:0], more)
		_, err = pw.Write(frames)
	}
	_ = pw.Close()
	c.cutting.Unlock()
	return seq, run, <-answered == http.StatusNoContent, true
}

// framesOf renders chunks as frames.
func framesOf(run []chunk) []byte { return appendFrames(nil, run) }

// appendFrames appends chunks rendered as frames to b, growing it at most once.
func appendFrames(b []byte, run []chunk) []byte {
	size := 0
	for _, ch := range run {
		size += frameHeader + 1 + len(ch.data)
	}
	b = slices.Grow(b, size)
	for _, ch := range run {
		b = appendFrame(b, ch.flags, ch.data)
	}
	return b
}
