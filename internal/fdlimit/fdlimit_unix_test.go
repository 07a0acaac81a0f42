//go:build unix

package fdlimit

import (
	"math"
	"syscall"
	"testing"
)

func TestDescriptors(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  int
		want int
	}{
		{"uint64 count", descriptors(uint64(1024)), 1024},
		{"int64 count", descriptors(int64(1024)), 1024},
		{"uint64 infinity", descriptors(^uint64(0)), math.MaxInt32},
		{"int64 infinity", descriptors(int64(math.MaxInt64)), math.MaxInt32},
		{"negative", descriptors(int64(-1)), math.MaxInt32},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestRaisedKeepsAHigherHardLimit(t *testing.T) {
	if cur, hard := raised(uint64(4096), 2048); cur != 2048 || hard != 4096 {
		t.Errorf("raised(4096, 2048) = %d, %d; want 2048, 4096", cur, hard)
	}
	if cur, hard := raised(int64(1024), 2048); cur != 2048 || hard != 2048 {
		t.Errorf("raised(1024, 2048) = %d, %d; want 2048, 2048", cur, hard)
	}
}

func TestRaiseReachesTheSoftLimitAsked(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	hard := descriptors(lim.Max)
	want := min(hard, descriptors(lim.Cur)+16)
	got, err := Raise(want)
	if err != nil || got < want {
		t.Fatalf("Raise(%d) = %d, %v; want at least %d", want, got, err, want)
	}
	if got, err := Raise(1); err != nil || got < want {
		t.Fatalf("Raise(1) = %d, %v; want the limit already in force (%d or more)", got, err, want)
	}
}
