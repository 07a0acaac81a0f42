package gateway

import "testing"

// A mailbox marked drained lets the recipient's next long-poll wait without a look only while
// no post (wakeUp, wakeAll) has come since the channel it was marked against was handed out,
// and only once.
func TestALongPollSkipsItsLookOnlyWhileNoPostCameSinceTheMailboxWasDrained(t *testing.T) {
	t.Parallel()
	const box, other = "host:h1", "host:h2"
	cases := []struct {
		name string
		// between runs after the mailbox was marked drained against the recipient's channel.
		between func(m *mailWaiters)
		// wakeDuring wakes the recipient while its collection ran, before the mark.
		wakeDuring bool
		want       bool
	}{
		{name: "nothing came", between: func(*mailWaiters) {}, want: true},
		{name: "a post to the recipient", between: func(m *mailWaiters) { m.wakeUp(box) }, want: false},
		{name: "a post to another recipient", between: func(m *mailWaiters) { m.wakeUp(other) }, want: true},
		{name: "notifications may have been missed", between: func(m *mailWaiters) { m.wakeAll() }, want: false},
		{name: "an order kept in memory", between: func(m *mailWaiters) { m.keep(box, []byte(`{}`)); m.wakeUp(box) }, want: false},
		{name: "a post while the collection ran", between: func(*mailWaiters) {}, wakeDuring: true, want: false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := newMailWaiters()
			m.waitChan(other)
			wake := m.waitChan(box) // handed out before the collection
			if c.wakeDuring {
				m.wakeUp(box)
			}
			m.markDrained(box, wake)
			c.between(m)
			if got := m.takeDrained(box, m.waitChan(box)); got != c.want {
				t.Fatalf("takeDrained = %v, want %v", got, c.want)
			}
			if m.takeDrained(box, m.waitChan(box)) {
				t.Fatal("the mark was used twice")
			}
			if want := map[bool]int64{true: 1}[c.want]; m.skipped.Load() != want {
				t.Fatalf("skipped = %d, want %d", m.skipped.Load(), want)
			}
		})
	}
}
