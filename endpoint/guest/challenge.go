package guest

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/portcullis/portcullis/endpoint"
)

// TerminalChallenge answers the Host's own questions (keyboard-interactive, e.g. a host-local
// logon and password) on the controlling terminal (/dev/tty; the console on Windows), hiding
// answers the Host asks not to echo. The Host's text is sanitised before it is shown. Without
// a terminal it answers no question (the Host's scheme then refuses and says so).
func TerminalChallenge() ssh.KeyboardInteractiveChallenge {
	return func(_, instruction string, questions []string, echo []bool) ([]string, error) {
		if len(questions) == 0 {
			return nil, nil
		}
		in, out, closeAll, err := openTerminal()
		if err != nil {
			return nil, fmt.Errorf("guest: the Host asks questions and there is no terminal to ask them on: %w", err)
		}
		defer closeAll()
		if instruction = endpoint.Sanitize(instruction); instruction != "" {
			fmt.Fprintln(out, instruction)
		}
		answers := make([]string, len(questions))
		lines := bufio.NewReader(in)
		for i, q := range questions {
			fmt.Fprint(out, endpoint.Sanitize(q)+" ")
			if i < len(echo) && echo[i] {
				line, err := lines.ReadString('\n')
				if err != nil {
					return nil, fmt.Errorf("guest: read an answer: %w", err)
				}
				answers[i] = strings.TrimRight(line, "\r\n")
				continue
			}
			b, err := term.ReadPassword(int(in.Fd()))
			fmt.Fprintln(out)
			if err != nil {
				return nil, errors.Join(errors.New("guest: read a hidden answer"), err)
			}
			answers[i] = string(b)
		}
		return answers, nil
	}
}
