package main

import (
	"slices"
	"strconv"
	"testing"

	"github.com/portcullis/portcullis/api"
)

func TestNextPageSize(t *testing.T) {
	half := api.MaxPageBytes / 2
	tests := []struct {
		name            string
		ask, got, bytes int
		more            bool
		want            int
	}{
		{"a full page grows", 100, 100, 10_000, true, 126},
		{"growth stops at the largest page", 1000, 1000, 100_000, true, listPageSize},
		{"a page cut for its size: ask for as many as fitted", 1000, 300, api.MaxPageBytes - 100, true, 300},
		{"half the bound counts as cut", 1000, 300, half, true, 300},
		{"a short page far below the bound (a scan's end) keeps growing", 1000, 10, 2_000, true, listPageSize},
		{"an empty page with more to come does not shrink the next", 400, 0, 20, true, 501},
		{"the last page", 1000, 10, half, false, listPageSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextPageSize(tt.ask, tt.got, tt.bytes, tt.more); got != tt.want {
				t.Errorf("nextPageSize(%d, %d, %d, %v) = %d, want %d", tt.ask, tt.got, tt.bytes, tt.more, got, tt.want)
			}
		})
	}
}

// simulatedListing answers pages as the CM answers GET /v1/me/hosts: a page decides at most
// scan items after the cursor and ends when it holds ask selected ones or when the next item
// would take its JSON past api.MaxPageBytes.
type simulatedListing struct {
	n, scan, itemBytes int
	selected           func(i int) bool
	asks               []int
}

func (l *simulatedListing) fetch(ask int, cursor string) ([]int, api.PageAnswer, error) {
	l.asks = append(l.asks, ask)
	from := 0
	if cursor != "" {
		var err error
		if from, err = strconv.Atoi(cursor); err != nil {
			return nil, api.PageAnswer{}, err
		}
	}
	var page []int
	i := from
	for ; i < l.n && i-from < l.scan && len(page) < ask; i++ {
		if !l.selected(i) {
			continue
		}
		if (len(page)+1)*l.itemBytes > api.MaxPageBytes {
			break
		}
		page = append(page, i)
	}
	ans := api.PageAnswer{Bytes: len(page) * l.itemBytes}
	if i < l.n {
		ans.Next = strconv.Itoa(i)
	}
	return page, ans, nil
}

// collect follows every page of l and returns the items.
func (l *simulatedListing) collect(t *testing.T) []int {
	t.Helper()
	var got []int
	for it, err := range followPages(0, nil, l.fetch) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, it)
	}
	return got
}

// After a stretch of Hosts the user reaches none of (pages that end empty when the CM has
// decided its scan), the next pages ask for full pages again, not for one Host at a time.
func TestFollowPagesAsksForFullPagesAfterASparseStretch(t *testing.T) {
	l := &simulatedListing{n: 7000, scan: 2000, itemBytes: 200, selected: func(i int) bool { return i >= 4000 }}
	got := l.collect(t)
	if len(got) != 3000 || got[0] != 4000 || got[len(got)-1] != 6999 {
		t.Fatalf("followed %d items (%v … %v), want the 3,000 from 4000 to 6999", len(got), got[:min(len(got), 1)], got[max(len(got)-1, 0):])
	}
	if len(l.asks) > 6 || slices.Min(l.asks) != listPageSize {
		t.Errorf("asked %v: want at most 6 pages, each of %d", l.asks, listPageSize)
	}
}

// Pages the CM cuts for their size are followed by asks for about as many items as fitted (a
// page that was not cut grows by a quarter, in case the items became smaller), so that the CM
// does not read many items it cannot send.
func TestFollowPagesAsksForAboutAsManyAsFitted(t *testing.T) {
	l := &simulatedListing{n: 3000, scan: 2000, itemBytes: 5000, selected: func(int) bool { return true }}
	if got := l.collect(t); len(got) != 3000 {
		t.Fatalf("followed %d items, want 3000", len(got))
	}
	fits := api.MaxPageBytes / 5000
	if l.asks[0] != listPageSize || slices.ContainsFunc(l.asks[1:], func(ask int) bool { return ask < fits || ask > fits+fits/4+1 }) {
		t.Errorf("asked %v: want %d, then %d to %d each time", l.asks, listPageSize, fits, fits+fits/4+1)
	}
}
