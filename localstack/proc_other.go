//go:build !linux

package localstack

import "os/exec"

// dieWithParent does nothing: only Linux kills a child when its parent dies. Elsewhere the
// children end with Stop, which the demo, the tests and the bench run on their way out (also
// on SIGINT and SIGTERM); a parent killed outright leaves them running.
func dieWithParent(*exec.Cmd) {}
