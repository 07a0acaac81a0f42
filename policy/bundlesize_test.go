package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
)

// tarEntry is one file of a crafted bundle archive: its name, the size its header claims and
// the bytes actually written (fewer than claimed leaves the archive truncated).
type tarEntry struct {
	name    string
	claimed int64
	body    []byte
}

// craftedBundle writes entries as a .tar.gz with whatever sizes their headers claim, as an
// attacker would: nothing is signed, and a header may claim far more than follows it.
func craftedBundle(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: e.claimed, Typeflag: tar.TypeReg, Format: tar.FormatGNU}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(e.body) // short of the claim on purpose, for some
	}
	_ = tw.Close() // fails on a truncated entry: the archive stays as truncated as intended
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadBundleRefusesOversizedBundlesWithoutPanicking: a tar header claiming any size, an
// 84-byte bundle claiming 2^50 bytes included (make([]byte, 0, 2^50) panicked and killed the
// CM), is refused with ErrBundleTooLarge before anything is buffered or verified.
func TestReadBundleRefusesOversizedBundlesWithoutPanicking(t *testing.T) {
	priv, pub := testKeys(t)
	var signed bytes.Buffer
	if err := WriteBundle(&signed, policyFS(`decision := {"allow": false}`), "r1", BundleSigning{KeyID: "k", Key: priv}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		raw  []byte
		want error // nil: accepted
	}{
		{"a header claiming 2^50 bytes", craftedBundle(t, tarEntry{"authz.rego", 1 << 50, nil}), ErrBundleTooLarge},
		{"a header claiming just below the makeslice limit", craftedBundle(t, tarEntry{"authz.rego", 1<<62 - 1, nil}), ErrBundleTooLarge},
		{"a header claiming one byte over the limit a file", craftedBundle(t, tarEntry{"authz.rego", maxBundleBytes + 1, []byte("package x")}), ErrBundleTooLarge},
		{"a truncated archive", signed.Bytes()[:signed.Len()/2], ErrInvalidPolicy},
		{"a signed bundle", signed.Bytes(), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("ReadBundle panicked on %d untrusted bytes: %v", len(tc.raw), r)
				}
			}()
			_, _, err := ReadBundle(tc.raw, BundleVerification{KeyID: "k", Key: pub})
			if tc.want == nil && err != nil || tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidPolicy)) {
				t.Fatalf("ReadBundle: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestOPAsLoaderHasTheSizeLimitToo: without the size check in front of it, OPA's reader
// refuses a header's oversized claim itself instead of allocating it.
func TestOPAsLoaderHasTheSizeLimitToo(t *testing.T) {
	for _, claimed := range []int64{1 << 50, maxBundleBytes + 1} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("OPA's reader panicked on a header claiming %d bytes: %v", claimed, r)
				}
			}()
			if _, err := readBundle(craftedBundle(t, tarEntry{"authz.rego", claimed, nil}), nil); err == nil {
				t.Fatalf("OPA's reader accepted a header claiming %d bytes", claimed)
			}
		}()
	}
}

// TestCheckBundleSizeBoundsTheInflatedArchive: a gzip bomb spread over many files, each
// within the limit a file, is refused once the archive inflates past the total; an archive
// exactly at the total is not.
func TestCheckBundleSizeBoundsTheInflatedArchive(t *testing.T) {
	const perFile, total = 1 << 10, 4 << 10
	kib := bytes.Repeat([]byte{0}, 1<<10)
	half := kib[:512]
	cases := []struct {
		name    string
		entries []tarEntry
		want    string // "accepted", "too large" or "malformed"
	}{
		// Three headers, three bodies and the two closing blocks, 512 bytes each.
		{"three files and the end, exactly the total", []tarEntry{{"a.rego", 512, half}, {"b.rego", 512, half}, {"c.rego", 512, half}}, "accepted"},
		{"eight files of the limit each", []tarEntry{{"a", perFile, kib}, {"b", perFile, kib}, {"c", perFile, kib},
			{"d", perFile, kib}, {"e", perFile, kib}, {"f", perFile, kib}, {"g", perFile, kib}, {"h", perFile, kib}}, "too large"},
		{"one file over the limit", []tarEntry{{"a.rego", perFile + 1, append(kib, 0)}}, "too large"},
		{"a truncated file", []tarEntry{{"a.rego", perFile, half}}, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBundleSize(craftedBundle(t, tc.entries...), perFile, total)
			got := "accepted"
			switch {
			case errors.Is(err, ErrBundleTooLarge):
				got = "too large"
			case err != nil:
				got = "malformed"
			}
			if got != tc.want {
				t.Fatalf("checkBundleSize: %v (%s), want %s", err, got, tc.want)
			}
		})
	}
}
