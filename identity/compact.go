package identity

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/portcullis/portcullis/access"
)

// Canonical compact form. go-jose's ParseSigned accepts many spellings of one signed token:
// it strips whitespace anywhere, accepts the JSON serialization, and ignores spare bits in the
// last base64url character of a segment. Anything keyed by a token's text, such as the
// one-time exchange of an ID token for a credential, would take each spelling for a new token.
// So Verify accepts only the one spelling providers produce (RFC 7515 §7.1 and §2): exactly
// three non-empty segments of unpadded base64url, each decoding strictly
// (base64.RawURLEncoding.Strict(): spare bits zero). Each byte string then has exactly one
// spelling.

// strictB64 decodes unpadded base64url and refuses non-zero spare bits.
var strictB64 = base64.RawURLEncoding.Strict()

// checkCompact refuses raw unless it is a strictly canonical compact JWS.
func checkCompact(raw string) error {
	segs := strings.Split(raw, ".")
	if len(segs) != 3 {
		return refuse(access.ErrMalformed, "not a compact JWS: %d dot-separated segments, want 3 (JSON serialization is not accepted)", len(segs))
	}
	for i, seg := range segs {
		name := [...]string{"header", "payload", "signature"}[i]
		if seg == "" {
			return refuse(access.ErrMalformed, "not a compact JWS: empty %s segment", name)
		}
		for j := range len(seg) {
			if !isBase64URL(seg[j]) {
				return refuse(access.ErrMalformed, "not a compact JWS: the %s segment holds %q at offset %d (only unpadded base64url, no whitespace)", name, seg[j], j)
			}
		}
		// Decoded to check the spare bits only: go-jose decodes again when parsing.
		if _, err := strictB64.DecodeString(seg); err != nil {
			return refuse(access.ErrMalformed, "not a compact JWS: the %s segment is not canonical base64url: %v", name, err)
		}
	}
	return nil
}

// isBase64URL reports whether c is in the base64url alphabet (RFC 4648 §5), padding excluded.
func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// ReplayKey returns the key under which the one-time use of an ID token is recorded: the
// SHA-256 of its JWS signing input, the header and payload segments joined by a dot
// (RFC 7515 §5.1). It refuses, with ErrInvalidToken and access.ErrMalformed, a token that is
// not a strictly canonical compact JWS, so each header and payload have one key however the
// token is spelled. The signature is left out because it is not unique: an ECDSA signature
// (r, s) has a twin (r, n−s) that verifies as well, which anyone holding the token can compute.
// Forging another header or payload needs the provider's key.
func ReplayKey(raw string) ([sha256.Size]byte, error) {
	if len(raw) > MaxTokenBytes {
		return [sha256.Size]byte{}, refuse(access.ErrMalformed, "token is %d bytes, the limit is %d", len(raw), MaxTokenBytes)
	}
	if err := checkCompact(raw); err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256([]byte(raw[:strings.LastIndexByte(raw, '.')])), nil
}
