package endpoint

import (
	"golang.org/x/crypto/ssh"
)

// Notices the Host sends the Guest during a session, as SSH global requests that want no
// reply: the Guest prints them; other clients (OpenSSH) ignore them. Each payload is one
// SSH-encoded struct (ssh.Marshal).
const (
	// ExpiryWarningRequest comes shortly before the session reaches its maximum duration; the
	// payload is ExpiryWarning (uint32 seconds left).
	ExpiryWarningRequest = "session-ending@portcullis"
	// EndNoticeRequest comes just before the Host closes a session that was ended for it (the
	// CM's order, the maximum duration); the payload is EndNotice (string reason).
	EndNoticeRequest = "session-ended@portcullis"
)

// ExpiryWarning is the payload of ExpiryWarningRequest.
type ExpiryWarning struct {
	// Seconds is the time left before the Host ends the session.
	Seconds uint32
}

// EndNotice is the payload of EndNoticeRequest.
type EndNotice struct {
	// Reason says why the session was ended.
	Reason string
}

// ParseExpiryWarning decodes the payload of ExpiryWarningRequest: the seconds left.
func ParseExpiryWarning(payload []byte) (uint32, bool) {
	var msg ExpiryWarning
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return 0, false
	}
	return msg.Seconds, true
}

// ParseEndNotice decodes the payload of EndNoticeRequest: the reason, made safe to print
// (Sanitize bounds it and strips control characters).
func ParseEndNotice(payload []byte) (string, bool) {
	var msg EndNotice
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return "", false
	}
	return Sanitize(msg.Reason), true
}
