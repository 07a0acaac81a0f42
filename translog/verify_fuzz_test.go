package translog

import (
	"bytes"
	"testing"

	"github.com/portcullis/portcullis/certs"
)

// FuzzVerifyBundle feeds arbitrary bundles (untrusted: the operator hands them over) to Verify,
// seeded with a real one: it never panics, and a bundle that reads verifies or names findings.
func FuzzVerifyBundle(f *testing.F) {
	t := &testing.T{}
	l := newTestLog(t, 10)
	f.Add(l.bundle(t).Bytes())
	all := l.records // and a time window of the same log, with the records bounding it
	l.bounds = []BundleRecord{all[1], all[8]}
	l.header = &BundleHeader{Origin: certs.LogOrigin, Size: 10, From: 2, To: 8, Since: all[2].Decision.Time, Until: all[8].Decision.Time}
	l.records = all[2:8]
	f.Add(l.bundle(t).Bytes())
	f.Add([]byte(`{"header":{"origin":"x","size":2,"from":0,"to":5}}` + "\n" + `{"leaf":{"index":0,"id":"a","hash":"AA=="}}`))
	f.Add([]byte(`{"record":{"index":99,"decision":{"ID":"z"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Verify(bytes.NewReader(b), l.verify, nil)
		if err == nil && rep.Records > 0 && rep.Size == 0 && rep.OK() {
			t.Fatalf("records verified against no checkpoint: %+v", rep)
		}
	})
}
