// Package ttyprompt asks questions on a terminal and reads the answers, hiding the ones that
// must not be shown (passwords): echo is off before the question appears, so nothing typed
// after it is echoed, however fast it is typed.
package ttyprompt
