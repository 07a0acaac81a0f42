package relay

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/ticket"
)

// sampleTicket has the shape of a ticket; the frame layer does not verify it.
const sampleTicket = "v1.0123456789abcdef.eyJqdGkiOiJ4In0.c2lnbmF0dXJl"

func TestParseHello(t *testing.T) {
	hello2 := func(role access.Role, plain bool) []byte {
		p, err := appendHello(nil, role, sampleTicket, plain)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := func(role access.Role) []byte { return hello2(role, false) }
	edited := func(edit func([]byte) []byte) []byte { return edit(valid(access.RoleGuest)) }
	editedPlain := func(edit func([]byte) []byte) []byte { return edit(hello2(access.RoleHost, true)) }
	cases := []struct {
		name    string
		payload []byte
		want    hello // zero when an error is expected
	}{
		{"guest", valid(access.RoleGuest), hello{ProtocolVersion, access.RoleGuest, false, sampleTicket}},
		{"host", valid(access.RoleHost), hello{ProtocolVersion, access.RoleHost, false, sampleTicket}},
		{"host asking for plain legs", hello2(access.RoleHost, true), hello{protocolVersionFlags, access.RoleHost, true, sampleTicket}},
		{"guest asking for plain legs", hello2(access.RoleGuest, true), hello{protocolVersionFlags, access.RoleGuest, true, sampleTicket}},
		{"version 2 with an unknown flag", editedPlain(func(p []byte) []byte { p[helloFixedLen] = 0x02; return p }), hello{}},
		{"version 2 without flags", editedPlain(func(p []byte) []byte { return p[:helloFixedLen] }), hello{}},
		{"version 2 with flags, no ticket", editedPlain(func(p []byte) []byte { return p[:helloFixedLen+1] }), hello{}},
		{"version 3", editedPlain(func(p []byte) []byte { p[len(magic)] = 3; return p }), hello{}},
		{"version 1 with a flags byte", editedPlain(func(p []byte) []byte { p[len(magic)] = ProtocolVersion; return p }), hello{}},
		{"empty", nil, hello{}},
		{"magic only", []byte(magic), hello{}},
		{"wrong magic", edited(func(p []byte) []byte { p[len(magic)-1] = '?'; return p }), hello{}},
		{"version 0", edited(func(p []byte) []byte { p[len(magic)] = 0; return p }), hello{}},
		{"role 0", edited(func(p []byte) []byte { p[len(magic)+1] = 0; return p }), hello{}},
		{"no ticket", edited(func(p []byte) []byte { return p[:helloFixedLen] }), hello{}},
		{"space in ticket", edited(func(p []byte) []byte { p[helloFixedLen+2] = ' '; return p }), hello{}},
		{"DEL in ticket", edited(func(p []byte) []byte { p[helloFixedLen] = 0x7f; return p }), hello{}},
		{"ticket above MaxTicketSize", append([]byte(magic), append([]byte{ProtocolVersion, roleByteHost},
			strings.Repeat("a", MaxTicketSize+1)...)...), hello{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHello(tc.payload)
			if tc.want == (hello{}) {
				if !errors.Is(err, access.ErrBadHello) {
					t.Fatalf("parseHello = %+v, %v; want access.ErrBadHello", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseHello = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestAppendHelloRefusesWhatTheServerWouldRefuse(t *testing.T) {
	cases := []struct {
		name   string
		role   access.Role
		ticket string
	}{
		{"unknown role", "admin", sampleTicket},
		{"no role", "", sampleTicket},
		{"empty ticket", access.RoleGuest, ""},
		{"ticket with a newline", access.RoleGuest, sampleTicket + "\n"},
		{"ticket too long", access.RoleGuest, strings.Repeat("a", MaxTicketSize+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := appendHello(nil, tc.role, tc.ticket, false); err == nil {
				t.Fatalf("appendHello accepted it: %q", p)
			}
		})
	}
}

func TestReadHelloReadsExactlyOneFrame(t *testing.T) {
	p, err := appendHello(nil, access.RoleHost, sampleTicket, false)
	if err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	if err := writeFrame(&wire, frameHello, p); err != nil {
		t.Fatal(err)
	}
	wire.WriteString("SSH-2.0-session-bytes")
	h, err := readHello(&wire)
	if err != nil {
		t.Fatal(err)
	}
	if h.Role != access.RoleHost || h.Ticket != sampleTicket {
		t.Errorf("readHello = %+v", h)
	}
	if rest := wire.String(); rest != "SSH-2.0-session-bytes" {
		t.Errorf("bytes after the hello = %q, want them untouched", rest)
	}
}

func TestReadFrameRefusesOversizedLengthsBeforeReading(t *testing.T) {
	r := bytes.NewReader(frameHeader(frameHello, 1<<31))
	_, _, err := readFrame(r, maxHelloLen, access.ErrBadHello)
	if !errors.Is(err, access.ErrBadHello) {
		t.Fatalf("readFrame = %v, want access.ErrBadHello", err)
	}
	_, _, err = readFrame(bytes.NewReader(frameHeader(frameHello, 10)[:3]), maxHelloLen, access.ErrBadHello)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated header: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestRefusalCodesRoundTrip(t *testing.T) {
	cases := []struct {
		code string
		err  error
	}{
		{string(access.ErrPairTimeout), access.ErrPairTimeout},
		{string(access.ErrDuplicateHalf), access.ErrDuplicateHalf},
		{string(access.ErrOverloaded), access.ErrOverloaded},
		{string(access.ErrShuttingDown), access.ErrShuttingDown},
		{string(access.ErrBadHello), access.ErrBadHello},
		{"bad_signature", access.ErrBadSignature},
		{"unknown_key", access.ErrUnknownKey},
		{"expired", access.ErrExpired},
		{"not_yet_valid", access.ErrNotYetValid},
		{"wrong_audience", access.ErrWrongAudience},
		{"wrong_role", access.ErrWrongRole},
		{"malformed", access.ErrMalformed},
		{"replayed", access.ErrReplayed},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			if !validCode(tc.code) {
				t.Errorf("code %q cannot travel in frameRefused", tc.code)
			}
			if got := refusalCode(tc.err); string(got) != tc.code {
				t.Errorf("refusalCode(%v) = %q, want %q", tc.err, got, tc.code)
			}
			err := error(&RefusedError{Code: tc.code})
			if !errors.Is(err, tc.err) {
				t.Errorf("RefusedError{%q} does not match %v", tc.code, tc.err)
			}
			if !strings.Contains(err.Error(), tc.code) {
				t.Errorf("message %q does not name the code", err)
			}
		})
	}
	if got := refusalCode(ticket.ErrReplayCacheFull); got != access.ErrOverloaded {
		t.Errorf("a full replay cache maps to %q, want %q", got, access.ErrOverloaded)
	}
	if got := refusalCode(io.EOF); got != "" {
		t.Errorf("a transport error maps to %q, want none", got)
	}
	if err := (&RefusedError{Code: "from_the_future"}); !errors.Is(err, access.ErrInternal) {
		t.Errorf("an unknown code unwraps to %v, want access.ErrInternal", err.Unwrap())
	}
}

func TestValidCode(t *testing.T) {
	for code, want := range map[string]bool{
		"expired": true, "pair_timeout": true, "v2_reason": true,
		"": false, "Expired": false, "bad-code": false, "with space": false, "ünïcode": false,
		strings.Repeat("a", maxCodeLen): true, strings.Repeat("a", maxCodeLen+1): false,
	} {
		if got := validCode(code); got != want {
			t.Errorf("validCode(%q) = %v, want %v", code, got, want)
		}
	}
}

func FuzzReadHello(f *testing.F) {
	valid, err := appendHello(nil, access.RoleGuest, sampleTicket, false)
	if err != nil {
		f.Fatal(err)
	}
	frame := func(t frameType, p []byte) []byte {
		var b bytes.Buffer
		if err := writeFrame(&b, t, p); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	f.Add(frame(frameHello, valid))
	plain, err := appendHello(nil, access.RoleHost, sampleTicket, true)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(frame(frameHello, plain))
	f.Add(append(frame(frameHello, valid), "trailing session bytes"...))
	f.Add(frame(frameHello, valid)[:frameHeaderLen+4])
	f.Add(frame(frameHello, valid[:helloFixedLen]))
	f.Add(frame(frameRefused, []byte(access.ErrBadHello)))
	f.Add(frameHeader(frameHello, uint32(maxHelloLen+1)))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := readHello(r)
		if err != nil {
			return
		}
		if !h.Role.Valid() || h.PlainLegs != (h.Version == protocolVersionFlags) || len(h.Ticket) == 0 || len(h.Ticket) > MaxTicketSize {
			t.Fatalf("readHello accepted an invalid hello %+v", h)
		}
		// An accepted hello re-encodes to exactly the bytes it was read from.
		consumed := data[:len(data)-r.Len()]
		p, err := appendHello(nil, h.Role, h.Ticket, h.PlainLegs)
		if err != nil {
			t.Fatalf("accepted hello does not re-encode: %v", err)
		}
		var b bytes.Buffer
		if err := writeFrame(&b, frameHello, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), consumed) {
			t.Fatalf("re-encoded %q, read from %q", b.Bytes(), consumed)
		}
	})
}
