package host

import (
	"fmt"
	"strings"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
)

// Request and channel payloads (RFC 4254), decoded with ssh.Unmarshal.
type (
	// ptyRequestMsg is the payload of "pty-req".
	ptyRequestMsg struct {
		Term                         string
		Columns, Rows, Width, Height uint32
		Modes                        string
	}
	// windowChangeMsg is the payload of "window-change".
	windowChangeMsg struct {
		Columns, Rows, Width, Height uint32
	}
	// execMsg is the payload of "exec".
	execMsg struct {
		Command string
	}
	// envMsg is the payload of "env".
	envMsg struct {
		Name, Value string
	}
	// subsystemMsg is the payload of "subsystem".
	subsystemMsg struct {
		Name string
	}
	// signalMsg is the payload of "signal".
	signalMsg struct {
		Signal string
	}
	// directTCPIPMsg is the extra data of a "direct-tcpip" channel open.
	directTCPIPMsg struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	// exitStatusMsg is the payload of "exit-status".
	exitStatusMsg struct {
		Status uint32
	}
	// exitSignalMsg is the payload of "exit-signal".
	exitSignalMsg struct {
		Signal     string
		CoreDumped bool
		Error      string
		Lang       string
	}
)

// parsePayload decodes a request payload of the named kind into T.
func parsePayload[T any](kind string, payload []byte) (T, error) {
	var msg T
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return msg, fmt.Errorf("host: %w: malformed %s payload: %w", access.ErrRequestRefused, kind, err)
	}
	return msg, nil
}

// parsePTYRequest decodes "pty-req".
func parsePTYRequest(payload []byte) (ptyRequestMsg, error) {
	msg, err := parsePayload[ptyRequestMsg]("pty-req", payload)
	if err == nil && strings.ContainsRune(msg.Term, 0) {
		err = fmt.Errorf("host: %w: terminal type contains NUL", access.ErrRequestRefused)
	}
	return msg, err
}

// parseWindowChange decodes "window-change".
func parseWindowChange(payload []byte) (windowChangeMsg, error) {
	return parsePayload[windowChangeMsg]("window-change", payload)
}

// parseExec decodes "exec" and bounds the command.
func parseExec(payload []byte) (execMsg, error) {
	msg, err := parsePayload[execMsg]("exec", payload)
	if err == nil && (len(msg.Command) > MaxCommandBytes || strings.ContainsRune(msg.Command, 0)) {
		err = fmt.Errorf("host: %w: command longer than %d bytes or containing NUL", access.ErrRequestRefused, MaxCommandBytes)
	}
	return msg, err
}

// parseEnv decodes "env".
func parseEnv(payload []byte) (envMsg, error) {
	return parsePayload[envMsg]("env", payload)
}

// parseSubsystem decodes "subsystem".
func parseSubsystem(payload []byte) (subsystemMsg, error) {
	return parsePayload[subsystemMsg]("subsystem", payload)
}

// parseSignal decodes "signal".
func parseSignal(payload []byte) (signalMsg, error) {
	return parsePayload[signalMsg]("signal", payload)
}

// parseDirectTCPIP decodes a "direct-tcpip" channel's extra data.
func parseDirectTCPIP(data []byte) (directTCPIPMsg, error) {
	return parsePayload[directTCPIPMsg]("direct-tcpip", data)
}

// winsize converts SSH's uint32 terminal dimensions, clamped to the terminal's uint16 fields.
func winsize(cols, rows, width, height uint32) pty.Winsize {
	clamp := func(v uint32) uint16 { return uint16(min(v, uint32(^uint16(0)))) }
	return pty.Winsize{Rows: clamp(rows), Cols: clamp(cols), X: clamp(width), Y: clamp(height)}
}
