package relay

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeConn is a connection that only has a remote address.
type fakeConn struct {
	net.Conn
	name   string
	remote net.Addr
}

func (c fakeConn) RemoteAddr() net.Addr { return c.remote }

func TestAdmissionDisplacesTheHandshakeLongestWithoutProgress(t *testing.T) {
	// Each step is "+name@addr" (arrives), "^name" (progresses), "*name" (finishes TLS and
	// owes its hello), "~ms" (time passes), "-name" (ends); want lists who was displaced at
	// each step ("" for nobody).
	cases := []struct {
		name             string
		limit, perSource int
		steps            []string
		want             []string
	}{
		{"room for all", 10, 10, []string{"+a@x", "+b@x", "+c@y"}, []string{"", "", ""}},
		{"a full source loses its oldest", 10, 2, []string{"+a@x", "+b@x", "+c@x"}, []string{"", "", "a"}},
		{"progress keeps a place", 10, 2, []string{"+a@x", "+b@x", "^a", "+c@x", "+d@x"}, []string{"", "", "", "b", "a"}},
		{"an ended one frees its place", 10, 2, []string{"+a@x", "+b@x", "-a", "+c@x"}, []string{"", "", "", ""}},
		{"a full server takes from the largest source", 4, 10, []string{"+a@x", "+b@x", "+c@x", "+d@y", "+e@y"}, []string{"", "", "", "", "a"}},
		{"a newcomer from a new source takes from the largest", 3, 10, []string{"+a@x", "+b@y", "+c@y", "+d@z"}, []string{"", "", "", "b"}},
		{"the largest source takes from itself", 3, 10, []string{"+a@x", "+b@y", "+c@y", "+d@y"}, []string{"", "", "", "b"}},
		{"a place of one", 1, 1, []string{"+a@x", "+b@x", "+c@y"}, []string{"", "a", "b"}},
		{"one that owes its hello past the grace goes first", 10, 2, []string{"+a@x", "+b@x", "*a", "~1500", "+c@x"}, []string{"", "", "", "", "a"}},
		{"within the grace the one longest without progress goes", 10, 2, []string{"+a@x", "+b@x", "*a", "~500", "+c@x"}, []string{"", "", "", "", "b"}},
		{"the earliest to owe goes first", 10, 3, []string{"+a@x", "+b@x", "+c@x", "*b", "*a", "~1500", "+d@x"}, []string{"", "", "", "", "", "", "b"}},
		{"an ended one owes nothing", 10, 2, []string{"+a@x", "+b@x", "*a", "-a", "+c@x", "~1500", "+d@x"}, []string{"", "", "", "", "", "", "b"}},
		{"ipv6 is one source per /64", 10, 2, []string{"+a@[2001:db8::1]", "+b@[2001:db8::2]", "+c@[2001:db8::3]", "+d@[2001:db8:0:1::1]"}, []string{"", "", "a", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			adm := newAdmission(tc.limit, tc.perSource)
			now := time.Unix(1000, 0)
			adm.now = func() time.Time { return now }
			atts := map[string]*attempt{}
			names := map[*attempt]string{}
			for i, step := range tc.steps {
				op, rest := step[0], step[1:]
				got := ""
				switch op {
				case '+':
					name, addr, _ := strings.Cut(rest, "@")
					conn := fakeConn{name: name, remote: remote(t, addr)}
					att, victim := adm.admit(conn, sourceOf(conn), time.Time{})
					atts[name], names[att] = att, name
					if victim != nil {
						got = names[victim]
						if !victim.evicted || victim.elem != nil {
							t.Errorf("step %s: the displaced %s is not marked evicted and removed", step, got)
						}
					}
				case '^':
					adm.progress(atts[rest])
				case '*':
					adm.secure(atts[rest])
				case '~':
					ms, err := strconv.Atoi(rest)
					if err != nil {
						t.Fatal(err)
					}
					now = now.Add(time.Duration(ms) * time.Millisecond)
				case '-':
					if adm.release(atts[rest]) {
						t.Errorf("step %s: release reports %s evicted", step, rest)
					}
				}
				if got != tc.want[i] {
					t.Errorf("step %d %s: displaced %q, want %q", i, step, got, tc.want[i])
				}
				if adm.len() > tc.limit {
					t.Errorf("step %s: %d handshakes, limit %d", step, adm.len(), tc.limit)
				}
				for _, src := range adm.sources {
					if src.queue.Len() > tc.perSource {
						t.Errorf("step %s: source %s holds %d, limit %d", step, src.addr, src.queue.Len(), tc.perSource)
					}
				}
			}
		})
	}
}

func TestAdmissionStaysConsistentUnderChurn(t *testing.T) {
	adm := newAdmission(50, 8)
	var live []*attempt
	for i := range 5000 {
		conn := fakeConn{remote: remote(t, fmt.Sprintf("10.0.%d.%d:1", i%3, i%17))}
		att, victim := adm.admit(conn, sourceOf(conn), time.Time{})
		live = append(live, att)
		if victim != nil && !adm.release(victim) {
			t.Fatal("release of a displaced attempt does not report it evicted")
		}
		switch i % 4 {
		case 3:
			adm.secure(live[i/2])
		case 1:
			adm.progress(live[i/2])
		case 2:
			adm.release(live[i/3])
		}
		count, owing := 0, 0
		adm.each(func(a *attempt) {
			count++
			if a.owing != nil {
				owing++
			}
		})
		if count != adm.len() || count > 50 || owing != adm.owingHello() {
			t.Fatalf("step %d: each sees %d, %d owing their hello; len %d, owingHello %d, limit 50", i, count, owing, adm.len(), adm.owingHello())
		}
	}
	for _, a := range live {
		adm.release(a)
	}
	if adm.len() != 0 || adm.owingHello() != 0 || len(adm.sources) != 0 || len(adm.bySize) != 0 {
		t.Fatalf("after every release: %d handshakes, %d owing, %d sources, heap %d", adm.len(), adm.owingHello(), len(adm.sources), len(adm.bySize))
	}
}

func remote(t *testing.T, addr string) net.Addr {
	t.Helper()
	if !strings.Contains(addr, ":") || strings.HasPrefix(addr, "[") && !strings.Contains(addr, "]:") {
		addr += ":1970"
	}
	if !strings.HasPrefix(addr, "[") && strings.Count(addr, ":") == 1 && !strings.Contains(addr, ".") {
		return &net.UnixAddr{Name: addr} // a name, not an IP: its own source
	}
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
