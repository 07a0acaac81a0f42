package guest

import (
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/endpoint"
)

// printNotices writes the Host's notices (endpoint.ExpiryWarningRequest,
// endpoint.EndNoticeRequest) to w and passes every other global request on; the second channel
// is closed when in is drained.
func printNotices(in <-chan *ssh.Request, w io.Writer) (<-chan *ssh.Request, <-chan struct{}) {
	out := make(chan *ssh.Request)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		defer close(out)
		for req := range in {
			switch req.Type {
			case endpoint.ExpiryWarningRequest:
				if secs, ok := endpoint.ParseExpiryWarning(req.Payload); ok {
					fmt.Fprintf(w, "portcullis: this session reaches its maximum duration and ends in %d s\n", secs)
				}
			case endpoint.EndNoticeRequest:
				if reason, ok := endpoint.ParseEndNotice(req.Payload); ok {
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
