package endpoint

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// How much file data one SFTP request carries. pkg/sftp's client uses one size for reads and
// writes, and its concurrent download takes a short answer to a read for the whole chunk (the
// file arrives with holes cut out): a Guest may ask for more than 32 KiB per read only from a
// Host that answers that much. A Host says how much it reads per request in its answer to the
// global request SFTPPacketRequest; a Host that does not know the request (one from before it)
// answers false, and the Guest keeps to SFTPPacketMax, which every SFTP server answers whole.
const (
	// SFTPPacketRequest is the SSH global request (want reply) in which the Guest asks how much
	// file data the Host's SFTP server answers one read with; a Host that announces it answers
	// true with SFTPPacketAnswer.
	SFTPPacketRequest = "sftp-max-packet@portcullis"
	// SFTPLargePacket is the most file data one request carries to a Host that announces at
	// least this much: 8 SSH packets of SFTPPacketMax (WholeSFTPPackets), just under pkg/sftp's
	// longest packet (256 KiB) with a write request's header.
	SFTPLargePacket = 8 * SFTPPacketMax
)

// ErrBadSFTPPacketAnswer reports a Host's answer to SFTPPacketRequest that cannot be used.
var ErrBadSFTPPacketAnswer = errors.New("endpoint: bad sftp packet size answer")

// SFTPPacketAnswer is the payload of a true answer to SFTPPacketRequest.
type SFTPPacketAnswer struct {
	// ReadMax is the most file data the Host's SFTP server answers one read request with.
	ReadMax uint32
	// Rest is room for later fields, ignored.
	Rest []byte `ssh:"rest"`
}

// ParseSFTPPacketAnswer decodes the payload of a true answer to SFTPPacketRequest and returns
// the size of the Guest's requests: the Host's read size, at most SFTPLargePacket. A size
// below SFTPPacketMax (which every SFTP server answers) is an error: the Host is broken, and
// nothing it said about its reads can be trusted.
func ParseSFTPPacketAnswer(payload []byte) (int, error) {
	var msg SFTPPacketAnswer
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadSFTPPacketAnswer, err)
	}
	if msg.ReadMax < SFTPPacketMax {
		return 0, fmt.Errorf("%w: the Host reads %d bytes per request, less than %d", ErrBadSFTPPacketAnswer, msg.ReadMax, SFTPPacketMax)
	}
	return int(min(msg.ReadMax, SFTPLargePacket)), nil
}
