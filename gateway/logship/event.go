package logship

import (
	"encoding/json"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// Event renders a committed decision record as the OPA decision-log event the CM ships and its
// API shows (api.Decision).
func Event(d store.Decision) api.Decision {
	var bundles map[string]api.BundleRevision
	if len(d.Bundles) > 0 {
		bundles = make(map[string]api.BundleRevision, len(d.Bundles))
		for name, rev := range d.Bundles {
			bundles[name] = api.BundleRevision{Revision: rev}
		}
	}
	return api.Decision{
		ID: d.ID, Time: d.Time, Path: d.Path, Subject: d.Subject, HostID: d.HostID, HostName: d.HostName,
		Allow: d.Allow, Reasons: d.Reasons, Input: rawOrNil(d.Input), Result: rawOrNil(d.Result),
		Revision: d.Revision, Bundles: bundles, Erased: d.Erased, Masked: d.Masked,
		RequestedBy: d.RequestedBy, ReqID: d.ReqID,
		Metrics: map[string]int64{api.MetricEvalNS: d.EvalNS}, Labels: d.Labels,
	}
}

// rawOrNil is raw as a JSON value, or nil (null) when empty: an empty RawMessage does not encode.
func rawOrNil(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return raw
}
