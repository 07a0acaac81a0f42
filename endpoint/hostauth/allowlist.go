package hostauth

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Allowlist allows the listed users, and members of the listed groups.
type Allowlist struct {
	// Users are the subjects allowed by name.
	Users []string
	// Groups are the groups whose members are allowed.
	Groups []string
}

// Authorize allows a listed user or a member of a listed group.
func (a Allowlist) Authorize(_ context.Context, req *Request) error {
	if slices.Contains(a.Users, req.User) {
		return nil
	}
	for _, g := range req.Groups {
		if slices.Contains(a.Groups, g) {
			return nil
		}
	}
	return fmt.Errorf("%s (groups: %s) is not on this Host's allowlist", req.User, orNone(req.Groups))
}

// orNone joins names, or says "none".
func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
