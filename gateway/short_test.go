package gateway_test

import "testing"

// runsInFullInTheUnitPass skips t under -short. make test's race stage runs with -short; the
// unit pass runs every test in full, at volume and on both stores, so what t proves is still
// proven on every run of the suite.
func runsInFullInTheUnitPass(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: %s runs in full in the unit pass", what)
	}
}
