package policy

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

func allocsOf(t *testing.T, src string) float64 {
	e := newEngine(t, WithFS(fstest.MapFS{"authz.rego": {Data: []byte(src)}}))
	in := connect(alice(), db1(), copenhagen(t, 10, 0))
	in.Request.Channels = []string{"exec"}
	in.Request.Encryption = "very_high"
	if res, err := e.Decide(t.Context(), in); err != nil || !res.Decision.Allow {
		t.Fatal(err, res.Decision)
	}
	return testing.AllocsPerRun(300, func() { e.Decide(t.Context(), in) })
}

func TestZZAblate(t *testing.T) {
	base, _ := fs2bytes("authz.rego")
	b := string(base)
	if f := os.Getenv("ZZFILE"); f != "" {
		s, _ := os.ReadFile(f)
		b = string(s)
	}
	fmt.Printf("%-14s %.0f\n", "base", allocsOf(t, b))
	if os.Getenv("ZZABL") == "" {
		return
	}
	for _, spec := range strings.Split(os.Getenv("ZZABL"), "|||") {
		name, rest, _ := strings.Cut(spec, "::")
		old, new, _ := strings.Cut(rest, "=>")
		old, new = strings.ReplaceAll(old, `\n`, "\n"), strings.ReplaceAll(new, `\n`, "\n")
		if !strings.Contains(b, old) {
			t.Fatalf("%s: missing %q", name, old)
		}
		fmt.Printf("%-14s %.0f\n", name, allocsOf(t, strings.Replace(b, old, new, 1)))
	}
}
