package guest

import (
	"context"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/internal/ttyprompt"
)

// TerminalChallenge answers the Host's own questions (keyboard-interactive, e.g. a host-local
// logon and password) on the controlling terminal (/dev/tty; the console on Windows), hiding
// answers the Host asks not to echo. The Host's text is sanitised before it is shown. Without
// a terminal it answers no question (the Host's scheme then refuses and says so). It stops
// asking when ctx ends.
func TerminalChallenge(ctx context.Context) ssh.KeyboardInteractiveChallenge {
	return func(_, instruction string, questions []string, echo []bool) ([]string, error) {
		if len(questions) == 0 {
			return nil, nil
		}
		tty, err := ttyprompt.Open()
		if err != nil {
			return nil, fmt.Errorf("guest: the Host asks questions and there is no terminal to ask them on: %w", err)
		}
		defer tty.Close()
		if instruction = endpoint.Sanitize(instruction); instruction != "" {
			if err := tty.Say(instruction); err != nil {
				return nil, fmt.Errorf("guest: show the Host's instruction: %w", err)
			}
		}
		answers := make([]string, len(questions))
		for i, q := range questions {
			ask := tty.AskHidden
			if i < len(echo) && echo[i] {
				ask = tty.Ask
			}
			if answers[i], err = ask(ctx, endpoint.Sanitize(q)+" "); err != nil {
				return nil, fmt.Errorf("guest: answer the Host's question: %w", err)
			}
		}
		return answers, nil
	}
}
