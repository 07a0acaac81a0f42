package access

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// declaredCodes returns every Code constant declared in this package's refusal.go.
func declaredCodes(t *testing.T) []Code {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "refusal.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []Code
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, v := range vs.Values {
				lit, err := strconv.Unquote(v.(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				codes = append(codes, Code(lit))
			}
		}
	}
	return codes
}

// TestEveryCodeHasOneRow guards the one table: each declared code is unique, has a row, and
// looks like a wire code the Guest accepts.
func TestEveryCodeHasOneRow(t *testing.T) {
	codes := declaredCodes(t)
	if len(codes) < 40 {
		t.Fatalf("found %d codes in refusal.go; the parser missed the const block", len(codes))
	}
	wire := regexp.MustCompile(`^[a-z][a-z_]{0,31}$`)
	seen := map[Code]bool{}
	for _, c := range codes {
		if seen[c] {
			t.Errorf("code %q declared twice", c)
		}
		seen[c] = true
		r, ok := c.row()
		if !ok {
			t.Errorf("code %q has no row in the table", c)
			continue
		}
		if !wire.MatchString(string(c)) {
			t.Errorf("code %q is not lower case letters and underscores of at most 32 bytes", c)
		}
		if r.status < 400 || r.status > 599 || r.exit < 1 || r.exit > 255 || r.message == "" {
			t.Errorf("code %q has an unusable row %+v", c, r)
		}
	}
}

func TestPresentation(t *testing.T) {
	tests := []struct {
		code   Code
		status int
		exit   int
	}{
		{ErrDenied, 403, ExitDenied},
		{ErrUnauthenticated, 401, ExitUnauthenticated},
		{ErrBadRequest, 400, ExitBadRequest},
		{ErrNotFound, 404, ExitNotFound},
		{ErrHostOffline, 409, ExitHostUnavailable},
		{ErrNoRelay, 503, ExitUnavailable},
		{ErrUnavailable, 503, ExitUnavailable},
		{ErrConflict, 409, ExitConflict},
		{ErrInternal, 500, ExitInternal},
		{ErrReplayed, 401, ExitProtocol},
		{ErrChannelNotAllowed, 403, ExitDenied},
		{Code("no_such_code"), 500, ExitInternal},
	}
	for _, tt := range tests {
		if got := tt.code.HTTPStatus(); got != tt.status {
			t.Errorf("%s.HTTPStatus() = %d, want %d", tt.code, got, tt.status)
		}
		if got := tt.code.ExitCode(); got != tt.exit {
			t.Errorf("%s.ExitCode() = %d, want %d", tt.code, got, tt.exit)
		}
	}
}

func TestCodeOfAndExitCode(t *testing.T) {
	wrapped := fmt.Errorf("ticket t-1: %w: exp 10:00", ErrExpired)
	tests := []struct {
		name string
		err  error
		code Code
		exit int
	}{
		{"nil", nil, "", 0},
		{"wrapped code", wrapped, ErrExpired, ExitUnauthenticated},
		{"twice wrapped", fmt.Errorf("connect: %w", wrapped), ErrExpired, ExitUnauthenticated},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), ErrCanceled, ExitCanceled},
		{"deadline", context.DeadlineExceeded, ErrTimeout, ExitFailure},
		{"plain", errors.New("disk full"), ErrInternal, ExitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.code {
				t.Errorf("CodeOf = %q, want %q", got, tt.code)
			}
			if got := ExitCode(tt.err); got != tt.exit {
				t.Errorf("ExitCode = %d, want %d", got, tt.exit)
			}
		})
	}
	if !errors.Is(wrapped, ErrExpired) || errors.Is(wrapped, ErrNotYetValid) {
		t.Error("errors.Is does not tell the wrapped code apart")
	}
}

func TestParse(t *testing.T) {
	if Parse("") != nil {
		t.Error(`Parse("") is not nil`)
	}
	if err := Parse("replayed"); err != ErrReplayed {
		t.Errorf(`Parse("replayed") = %v`, err)
	}
	long := strings.Repeat("z", 1000)
	err := Parse(long)
	if !errors.Is(err, ErrInternal) {
		t.Errorf("Parse(unknown) = %v, want ErrInternal", err)
	}
	if len(err.Error()) > 100 {
		t.Errorf("Parse repeats an unbounded peer code: %d bytes", len(err.Error()))
	}
}

func TestLevels(t *testing.T) {
	tests := []struct {
		have, min string
		want      bool
	}{
		{LevelVeryHigh, LevelHigh, true},
		{"", LevelVeryHigh, true},
		{LevelMedium, LevelHigh, false},
		{"bogus", LevelMedium, false},
		{LevelHigh, "bogus", false},
	}
	for _, tt := range tests {
		if got := LevelAtLeast(tt.have, tt.min); got != tt.want {
			t.Errorf("LevelAtLeast(%q, %q) = %v", tt.have, tt.min, got)
		}
	}
	if got := StrongerLevel(LevelMedium, LevelHigh); got != LevelHigh {
		t.Errorf("StrongerLevel = %q", got)
	}
	if got := StrongerLevel("bogus", LevelHigh); got != "bogus" {
		t.Errorf("StrongerLevel with an unknown level = %q, want the unknown one (fail closed)", got)
	}
	if _, err := LevelRank("bogus"); !errors.Is(err, ErrUnknownLevel) {
		t.Errorf("LevelRank(bogus) = %v", err)
	}
	if !RoleGuest.Valid() || Role("admin").Valid() {
		t.Error("Role.Valid")
	}
}

// TestCodeLogsItself: a log records the code, not its message.
func TestCodeLogsItself(t *testing.T) {
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("refused", "reason", ErrWrongSession)
	if !strings.Contains(b.String(), `"reason":"wrong_session"`) {
		t.Fatalf("log line %s does not carry the code", b.String())
	}
}
