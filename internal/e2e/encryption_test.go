package e2e

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/api"
)

// exec -v names the algorithms the Guest and the Host negotiated: at very_high (db-1 is
// production) the post-quantum hybrid and AES-256-GCM.
func TestExecVerboseShowsTheNegotiatedAlgorithms(t *testing.T) {
	_, stderr, code := guest(t, "alice@example.com", "exec", "-v", "-n", "db-1", "--", "true")
	if code != 0 {
		t.Fatalf("exec -v: exit %d: %s", code, stderr)
	}
	want := "end-to-end SSH with the Host: key exchange mlkem768x25519-sha256, host key ssh-ed25519, cipher aes256-gcm@openssh.com"
	if !strings.Contains(stderr, want) {
		t.Errorf("exec -v does not show the negotiated algorithms %q:\n%s", want, stderr)
	}
}

// What Debian's OpenSSH negotiates with a very_high Host is what docs/encryption.md says.
func TestDocsNameWhatOpenSSHNegotiates(t *testing.T) {
	o := newOpenSSH(t, "alice@example.com")
	_, stderr, code := o.run(t, "", "ssh", "-v", "db-1.portcullis", "true")
	if code != 0 {
		t.Fatalf("ssh -v: exit %d:\n%s", code, stderr)
	}
	kex := regexp.MustCompile(`kex: algorithm: (\S+)`).FindStringSubmatch(stderr)
	cipher := regexp.MustCompile(`kex: server->client cipher: (\S+) MAC: (\S+)`).FindStringSubmatch(stderr)
	version := regexp.MustCompile(`OpenSSH_(\d+\.\d+)`).FindStringSubmatch(stderr)
	if kex == nil || cipher == nil || version == nil {
		t.Fatalf("ssh -v names no key exchange, cipher or version:\n%s", stderr)
	}
	doc, err := os.ReadFile("../../docs/encryption.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## OpenSSH")
	want := []string{"OpenSSH " + version[1], "`" + kex[1] + "`", "`" + cipher[1] + "`"}
	if cipher[2] != "<implicit>" { // an AEAD cipher has no MAC
		want = append(want, "`"+cipher[2]+"`")
	}
	for _, w := range want {
		if !strings.Contains(section, w) {
			t.Errorf("docs/encryption.md's OpenSSH section does not say %s (OpenSSH %s negotiated %s, %s, MAC %s)", w, version[1], kex[1], cipher[1], cipher[2])
		}
	}
}

// A session the Guest refuses for its encryption level is recorded as ended at once, with why,
// instead of staying live until its pairing times out.
func TestASessionTheGuestRefusesEndsAtOnce(t *testing.T) {
	_, stderr, code := guest(t, "alice@example.com", "exec", "-n", "--encryption", "medium", "web-1", "--", "true")
	if code == 0 || !strings.Contains(stderr, "below the policy's minimum") {
		t.Fatalf("exec at medium to a high Host: exit %d, %s", code, stderr)
	}
	m := decisionRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no decision in %q", stderr)
	}
	var ss []api.Session
	decodeList(t, "carol@example.com", &ss, "sessions", "ls", "--decision", m[1], "--format", "json")
	if len(ss) != 1 || ss[0].EndedAt == nil || ss[0].Live || !strings.HasPrefix(ss[0].EndReason, api.ReasonPrefixGuestRefused) ||
		!strings.Contains(ss[0].EndReason, "medium") {
		t.Fatalf("the refused session right after exec returned: %+v; want it ended, the Guest's refusal its reason", ss)
	}
	// Nobody else may end alice's session this way.
	req := api.SessionRefusal{Reason: "x"}
	mallory := sys.users["mallory@example.com"]
	err := api.Call(context.Background(), mallory.Client, http.MethodPost, sys.c.CMURL+api.PathSessions+"/"+ss[0].ID+"/refuse", mallory.IDToken, req, nil)
	if se, ok := api.AsStatus(err); !ok || se.Status != http.StatusNotFound {
		t.Errorf("mallory refusing alice's session: %v, want 404", err)
	}
}
