package gateway

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// A long-poll's answer holds at most store.MaxCollect messages of at most store.MaxMailBody
// bytes each, re-encoded as they were posted: together within api.MaxPageBytes, a quarter
// short of what a client reads (api.MaxResponseBytes). The constant fails to compile when
// they do not fit.
const _ = uint(api.MaxPageBytes - store.MaxCollect*store.MaxMailBody)

// truncatedMark ends a reason cut to fit its order within store.MaxMailBody.
const truncatedMark = " [truncated]"

// hostOrder encodes the order to a Host to end the session id for reason (encodeOrder).
func hostOrder(id, reason string) ([]byte, error) {
	return encodeOrder(reason, func(r string) any { return api.HostRequest{SessionID: id, Kill: true, Reason: r} })
}

// relayOrder encodes the order to a CS to end the session id for reason (encodeOrder).
func relayOrder(id, reason string) ([]byte, error) {
	return encodeOrder(reason, func(r string) any { return api.RelayCommand{SessionID: id, Reason: r} })
}

// encodeOrder encodes order(reason), an order to end a session, within store.MaxMailBody: an
// over-long reason (a revocation's joins every policy reason) is cut at a character and ends
// with truncatedMark, so that the order is posted and fits in its recipient's long-poll.
func encodeOrder(reason string, order func(reason string) any) ([]byte, error) {
	body, err := json.Marshal(order(reason))
	if err != nil || len(body) <= store.MaxMailBody {
		return body, err
	}
	marked, err := json.Marshal(order(truncatedMark))
	if err != nil {
		return nil, err
	}
	room, end := store.MaxMailBody-len(marked), 0
	for end < len(reason) {
		_, size := utf8.DecodeRuneInString(reason[end:])
		n := encodedLen(reason[end : end+size]) // JSON escapes character by character
		if n > room {
			break
		}
		room, end = room-n, end+size
	}
	if body, err = json.Marshal(order(reason[:end] + truncatedMark)); err == nil && len(body) > store.MaxMailBody {
		err = fmt.Errorf("an order of %d bytes exceeds %d", len(body), store.MaxMailBody)
	}
	return body, err
}

// encodedLen is the length of s encoded as a JSON string, without its quotes.
func encodedLen(s string) int {
	b, _ := json.Marshal(s) // a string always encodes
	return len(b) - 2
}
