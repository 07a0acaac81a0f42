package host

import (
	"errors"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/endpoint"
)

// expiryWarningLead is how long before the end the Guest is warned (at most half the session).
const expiryWarningLead = time.Minute

// warnBeforeEnd sends endpoint.ExpiryWarningRequest on conn shortly before end; the returned
// func cancels it.
func warnBeforeEnd(conn ssh.Conn, end time.Time) func() bool {
	left := time.Until(end)
	lead := min(expiryWarningLead, left/2)
	t := time.AfterFunc(left-lead, func() {
		payload := ssh.Marshal(endpoint.ExpiryWarning{Seconds: uint32(lead.Round(time.Second) / time.Second)})
		_, _, _ = conn.SendRequest(endpoint.ExpiryWarningRequest, false, payload) // best effort: the session may be closing
	})
	return t.Stop
}

// noticeEnd tells the Guest why the Host is closing the session (endpoint.EndNoticeRequest),
// when it was ended for it: on the CM's order or at its maximum duration.
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
	_, _, _ = conn.SendRequest(endpoint.EndNoticeRequest, false, ssh.Marshal(endpoint.EndNotice{Reason: reason})) // best effort: the session is closing
}
