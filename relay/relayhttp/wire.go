package relayhttp

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/crypto/chacha20poly1305"
)

// Paths of the tunnel endpoints, below the CS's HTTP root.
const (
	PathOpen = "/relay/v1/open"
	PathSend = "/relay/v1/send"
	PathRecv = "/relay/v1/recv"
	PathPing = "/relay/v1/ping"
)

// Wire limits and sizes, in bytes unless named otherwise.
const (
	// WireVersion is the first byte of an open request.
	WireVersion = 1
	// MaxChunkData is the most stream bytes one chunk carries.
	MaxChunkData = 32 << 10
	// maxSealed is the largest sealed chunk: flags byte + data + AEAD tag.
	maxSealed = 1 + MaxChunkData + chacha20poly1305.Overhead
	// openLen is the body of an open request: version + X25519 public key.
	openLen = 1 + 32
	// idLen is the tunnel id in bytes (sent as 2*idLen hex digits).
	idLen = 16
	// window is how many chunks past the last contiguous one either side accepts.
	window = 16
)

// Chunk flags.
const (
	flagFin = 0x01 // the sender finished sending; no chunk follows
)

// Direction bytes of the additional data.
const (
	dirToServer = 'c' // client→CS
	dirToClient = 's' // CS→client
)

// Errors of the wire format.
var (
	// ErrBadChunk means a chunk failed authentication or was malformed.
	ErrBadChunk = errors.New("relayhttp: bad chunk")
	// ErrBadRequest means a tunnel request was malformed.
	ErrBadRequest = errors.New("relayhttp: bad request")
)

// keys are the two directional AEADs of one tunnel.
type keys struct {
	toServer, toClient cipher.AEAD
}

// deriveKeys derives both directions' keys from the X25519 shared secret and both public keys.
func deriveKeys(shared, clientPub, serverPub []byte) (keys, error) {
	salt := append(append([]byte{}, clientPub...), serverPub...)
	var k keys
	for _, d := range []struct {
		info string
		aead *cipher.AEAD
	}{{"portcullis relayhttp v1 client to server", &k.toServer}, {"portcullis relayhttp v1 server to client", &k.toClient}} {
		raw, err := hkdf.Key(sha256.New, shared, salt, d.info, chacha20poly1305.KeySize)
		if err != nil {
			return keys{}, fmt.Errorf("relayhttp: derive key: %w", err)
		}
		a, err := chacha20poly1305.New(raw)
		if err != nil {
			return keys{}, fmt.Errorf("relayhttp: key: %w", err)
		}
		*d.aead = a
	}
	return k, nil
}

// nonce is 4 zero bytes followed by the big-endian sequence number.
func nonce(seq uint64) []byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[4:], seq)
	return n[:]
}

// additional is the AEAD additional data: the tunnel id and the direction.
func additional(id string, dir byte) []byte {
	return append([]byte(id), dir)
}

// seal encrypts one chunk.
func seal(a cipher.AEAD, id string, dir byte, seq uint64, flags byte, data []byte) []byte {
	pt := make([]byte, 0, 1+len(data))
	pt = append(append(pt, flags), data...)
	return a.Seal(nil, nonce(seq), pt, additional(id, dir))
}

// openChunk authenticates and decrypts one sealed chunk; errors wrap ErrBadChunk.
func openChunk(a cipher.AEAD, id string, dir byte, seq uint64, sealed []byte) (byte, []byte, error) {
	if len(sealed) < 1+a.Overhead() || len(sealed) > maxSealed {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrBadChunk, len(sealed))
	}
	pt, err := a.Open(nil, nonce(seq), sealed, additional(id, dir))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrBadChunk, err)
	}
	if pt[0]&^flagFin != 0 {
		return 0, nil, fmt.Errorf("%w: unknown flags 0x%02x", ErrBadChunk, pt[0])
	}
	return pt[0], pt[1:], nil
}

// parseOpen decodes an open request body into the client's X25519 public key.
func parseOpen(body []byte) (*ecdh.PublicKey, error) {
	if len(body) != openLen {
		return nil, fmt.Errorf("%w: open body is %d bytes, want %d", ErrBadRequest, len(body), openLen)
	}
	if body[0] != WireVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadRequest, body[0], WireVersion)
	}
	pub, err := ecdh.X25519().NewPublicKey(body[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrBadRequest, err)
	}
	return pub, nil
}

// parseID checks a tunnel id: 2*idLen lower-case hex digits.
func parseID(s string) (string, error) {
	if len(s) != 2*idLen {
		return "", fmt.Errorf("%w: tunnel id of %d characters", ErrBadRequest, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil || s != lowerHex(s) {
		return "", fmt.Errorf("%w: tunnel id is not lower-case hex", ErrBadRequest)
	}
	return s, nil
}

func lowerHex(s string) string {
	b, _ := hex.DecodeString(s)
	return hex.EncodeToString(b)
}

// parseSeq parses a decimal sequence number.
func parseSeq(s string) (uint64, error) {
	if s == "" || len(s) > 20 {
		return 0, fmt.Errorf("%w: sequence number %q", ErrBadRequest, s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: sequence number %q", ErrBadRequest, s)
	}
	return n, nil
}

// EncodePublicKey renders a CS's X25519 public key as published by the CM (base64url, no padding).
func EncodePublicKey(pub *ecdh.PublicKey) string {
	return base64.RawURLEncoding.EncodeToString(pub.Bytes())
}

// ParsePublicKey is the inverse of EncodePublicKey.
func ParsePublicKey(s string) (*ecdh.PublicKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("relayhttp: relay key: %w", err)
	}
	pub, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("relayhttp: relay key: %w", err)
	}
	return pub, nil
}
