package logship

import (
	"errors"
	"strings"
	"testing"
)

// A batch beyond what the outbox hands out is refused, not silently cut, and every problem is
// a *SettingError naming its field.
func TestConfigRefusesABatchBeyondTheOutbox(t *testing.T) {
	err := Config{URL: "http://collector", Batch: 5000}.Validate()
	se, ok := errors.AsType[*SettingError](err)
	if !ok || se.Field != "Batch" || !strings.Contains(err.Error(), "5000 is outside 1..1000") {
		t.Fatalf("Validate = %v, want Batch 5000 refused", err)
	}
	if err := (Config{URL: "http://collector", Batch: 1000}).Validate(); err != nil {
		t.Fatalf("a batch of 1000: %v", err)
	}
}
