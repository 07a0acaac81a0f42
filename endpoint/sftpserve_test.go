package endpoint

import (
	"bytes"
	"io"
	"testing"
)

// status returns a whole SFTP status reply (28 bytes).
func status(id byte) []byte {
	return append(header(24, 101, 0, 0, 0, id), make([]byte, 19)...)
}

func TestSFTPServerPipeSendsShortRepliesTogetherWhileRequestsWait(t *testing.T) {
	// Three 10-byte requests arrive in one read: the replies to the first two are held until
	// the server has read the last request, then sent with one write.
	requests := bytes.Repeat([]byte{0, 0, 0, 6, 200, 0, 0, 0, 0, 0}, 3)
	rec := &recorder{}
	r, w := SFTPServerPipe(bytes.NewReader(requests), rec, ToPipe)
	req := make([]byte, 10)
	for i := range 3 {
		if _, err := io.ReadFull(r, req); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(status(byte(i))); err != nil {
			t.Fatal(err)
		}
		if i < 2 && len(rec.writes) != 0 {
			t.Fatalf("after request %d, %d writes were sent while requests waited; want them held", i, len(rec.writes))
		}
	}
	want := append(append(status(0), status(1)...), status(2)...)
	if len(rec.writes) != 2 || !bytes.Equal(rec.writes[0], want[:56]) || !bytes.Equal(rec.writes[1], want[56:]) {
		t.Fatalf("writes %d (%v), want the two held replies together, then the third at once", len(rec.writes), rec.writes)
	}
	if err := w.Close(); err != nil || !rec.closed {
		t.Fatalf("Close: %v, closed %v", err, rec.closed)
	}
}

func TestSFTPServerPipeNeverHoldsDataOrAReplyAtClose(t *testing.T) {
	for _, c := range []struct {
		name  string
		reply []byte
		close bool
		want  int // writes reaching the underlying writer, before Close
	}{
		{"a data reply passes at once", append(header(9+SFTPPacketMax, 103, 0, 0, 0, 1, 0, 0, 0x7f, 0xc0), make([]byte, SFTPPacketMax)...), false, 1},
		{"a held reply leaves at Close", status(7), true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			r, w := SFTPServerPipe(bytes.NewReader(make([]byte, 20)), rec, ToPipe)
			if _, err := r.Read(make([]byte, 10)); err != nil { // 10 bytes stay buffered: busy
				t.Fatal(err)
			}
			if _, err := w.Write(c.reply); err != nil {
				t.Fatal(err)
			}
			if len(rec.writes) != c.want {
				t.Fatalf("%d writes before Close, want %d", len(rec.writes), c.want)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := bytes.Join(rec.writes, nil); !bytes.Equal(got, c.reply) || !rec.closed {
				t.Fatalf("sent %d bytes (closed %v), want the reply whole", len(got), rec.closed)
			}
		})
	}
}
