package endpoint

import (
	"testing"

	"github.com/portcullis/portcullis/internal/sshtest"
)

// fixture is the shared SSH key fixture, with the endpoint tests' own helpers as methods.
type fixture struct{ sshtest.Fixture }

// newFixture returns keys for a session that allows every channel.
func newFixture(t testing.TB) *fixture { return &fixture{*sshtest.NewFixture(t)} }
