package policy

import (
	"encoding/json"
	"iter"

	"github.com/portcullis/portcullis/api"
)

// RecordedDecisions turns decision records as the API shows them into the records Impact
// replays; a record without input is passed on without one, and a record of the CM's own
// refusal with its LabelRefusal (Impact skips both).
func RecordedDecisions(ds iter.Seq2[api.Decision, error]) iter.Seq2[Recorded, error] {
	return func(yield func(Recorded, error) bool) {
		for d, err := range ds {
			if err != nil {
				yield(Recorded{}, err)
				return
			}
			in, _ := json.Marshal(d.Input)
			res, _ := json.Marshal(d.Result)
			if d.Input == nil {
				in = nil
			}
			rec := Recorded{ID: d.ID, Time: d.Time, Subject: d.Subject, Host: d.HostName, Path: d.Path, Allow: d.Allow, Result: res, Input: in,
				Refusal: d.Labels[LabelRefusal]}
			if !yield(rec, nil) {
				return
			}
		}
	}
}
