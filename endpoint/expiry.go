package endpoint

import (
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
)

// Notices the Host sends the Guest as SSH global requests that want no reply: the Guest prints
// them; other clients (OpenSSH) ignore them.
const (
	// ExpiryWarningRequest comes shortly before the session reaches its maximum duration; the
	// payload is the seconds left (uint32).
	ExpiryWarningRequest = "session-ending@portcullis"
	// EndNoticeRequest comes just before the Host closes a session that was ended for it (the
	// CM's order, the maximum duration); the payload is the reason (string).
	EndNoticeRequest = "session-ended@portcullis"
)

// expiryWarningLead is how long before the end the Guest is warned (at most half the session).
const expiryWarningLead = time.Minute

// expiryWarning is the payload of ExpiryWarningRequest.
type expiryWarning struct {
	Seconds uint32
}

// warnBeforeEnd sends ExpiryWarningRequest on conn shortly before end; the returned func
// cancels it.
func warnBeforeEnd(conn ssh.Conn, end time.Time) func() bool {
	left := time.Until(end)
	lead := min(expiryWarningLead, left/2)
	t := time.AfterFunc(left-lead, func() {
		payload := ssh.Marshal(expiryWarning{Seconds: uint32(lead.Round(time.Second) / time.Second)})
		_, _, _ = conn.SendRequest(ExpiryWarningRequest, false, payload) // best effort: the session may be closing
	})
	return t.Stop
}

// endNotice is the payload of EndNoticeRequest.
type endNotice struct {
	Reason string
}

// noticeEnd tells the Guest why the Host is closing the session, when it was ended for it.
func noticeEnd(conn ssh.Conn, cause error) {
	var ended errEnded
	reason := ""
	switch {
	case errors.As(cause, &ended):
		reason = ended.reason
	case errors.Is(cause, ErrSessionExpired):
		reason = "maximum duration reached"
	default:
		return
	}
	_, _, _ = conn.SendRequest(EndNoticeRequest, false, ssh.Marshal(endNotice{Reason: reason})) // best effort: the session is closing
}

// printNotices writes the Host's notices (ExpiryWarningRequest, EndNoticeRequest) to w and
// passes every other global request on; the second channel is closed when in is drained.
func printNotices(in <-chan *ssh.Request, w io.Writer) (<-chan *ssh.Request, <-chan struct{}) {
	out := make(chan *ssh.Request)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		defer close(out)
		for req := range in {
			switch req.Type {
			case ExpiryWarningRequest:
				if secs, ok := parseExpiryWarning(req.Payload); ok {
					fmt.Fprintf(w, "portcullis: this session reaches its maximum duration and ends in %d s\n", secs)
				}
			case EndNoticeRequest:
				if reason, ok := parseEndNotice(req.Payload); ok {
					fmt.Fprintf(w, "portcullis: the session was ended: %s\n", reason)
				}
			default:
				out <- req
				continue
			}
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}()
	return out, printed
}

// parseEndNotice decodes the payload of EndNoticeRequest: the reason, made safe to print
// (sanitize bounds it and strips control characters).
func parseEndNotice(payload []byte) (string, bool) {
	var msg endNotice
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return "", false
	}
	return sanitize(msg.Reason), true
}

// parseExpiryWarning decodes the payload of ExpiryWarningRequest: the seconds left.
func parseExpiryWarning(payload []byte) (uint32, bool) {
	var msg expiryWarning
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return 0, false
	}
	return msg.Seconds, true
}
