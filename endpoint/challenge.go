package endpoint

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// TerminalChallenge answers the Host's own questions (keyboard-interactive, e.g. a host-local
// logon and password) on the controlling terminal (/dev/tty), hiding answers the Host asks not
// to echo. The Host's text is sanitised before it is shown. Without a terminal it answers no
// question (the Host's scheme then refuses and says so).
func TerminalChallenge() ssh.KeyboardInteractiveChallenge {
	return func(_, instruction string, questions []string, echo []bool) ([]string, error) {
		if len(questions) == 0 {
			return nil, nil
		}
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("endpoint: the Host asks questions and there is no terminal to ask them on: %w", err)
		}
		defer tty.Close()
		if instruction = sanitize(instruction); instruction != "" {
			fmt.Fprintln(tty, instruction)
		}
		answers := make([]string, len(questions))
		in := bufio.NewReader(tty)
		for i, q := range questions {
			fmt.Fprint(tty, sanitize(q)+" ")
			if i < len(echo) && echo[i] {
				line, err := in.ReadString('\n')
				if err != nil {
					return nil, fmt.Errorf("endpoint: read an answer: %w", err)
				}
				answers[i] = strings.TrimRight(line, "\r\n")
				continue
			}
			b, err := term.ReadPassword(int(tty.Fd()))
			fmt.Fprintln(tty)
			if err != nil {
				return nil, errors.Join(errors.New("endpoint: read a hidden answer"), err)
			}
			answers[i] = string(b)
		}
		return answers, nil
	}
}
