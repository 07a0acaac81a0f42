package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/localstack"
)

func newDemoCmd() *cobra.Command {
	var verbose, keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole system locally (CM with SQLite and the development IdP, a CS, a Host) and connect to the Host as a Guest",
		Long: "Demo builds nothing: it starts this binary's own cm, cs and host commands on loopback in a temporary directory,\n" +
			"signs alice in through the development identity provider (device flow), runs a command on the Host through the relay\n" +
			"with 'portcullis exec', prints its output and a summary of the decision record (-v: the whole record and every\n" +
			"process's log), shows mallory being refused, stops everything and says what to try next by hand.\n" +
			"It exits 0 only if the command really ran on the Host. It prints the web console's address; with --keep it keeps\n" +
			"everything running after the demo, until interrupted, so that a person can sign in to the console.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), verbose, keep)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show the whole decision record and the logs of every process.")
	cmd.Flags().BoolVar(&keep, "keep", false, "Keep the system running after the demo, until interrupted, to look at the web console.")
	return cmd
}

// decisionIDPattern finds the decision id in 'exec --verbose' output.
var decisionIDPattern = regexp.MustCompile(`decision (dec_[0-9a-f]+)`)

func runDemo(ctx context.Context, out io.Writer, verbose, keep bool) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: find own binary: %w", err)
	}
	dir, err := os.MkdirTemp("", "portcullis-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	opts := localstack.Options{Bin: bin, Dir: dir}
	if verbose {
		opts.Logs = os.Stderr
	}
	step := func(format string, a ...any) { fmt.Fprintf(out, "==> "+format+"\n", a...) }

	step("starting the Connection Manager (SQLite store, development identity provider) in %s", dir)
	c, err := localstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Stop()
	fail := func(err error) error {
		for _, name := range []string{"cm", "cs-eu-1", "db-1"} {
			fmt.Fprintf(os.Stderr, "--- log of %s ---\n%s\n", name, c.LogOf(name))
		}
		return err
	}
	step("starting the Connection Server cs-eu-1")
	if _, err := c.StartRelay(ctx, localstack.RelaySpec{ID: "cs-eu-1", Region: "eu-north"}); err != nil {
		return fail(err)
	}
	step("dave (portcullis-admins) signs in and enrols the Host db-1 (env=prod, team=data, tenant acme)")
	dave, err := c.Login(ctx, "dave@example.com", "password", "")
	if err != nil {
		return fail(err)
	}
	if err := c.WaitRelays(ctx, dave, "cs-eu-1"); err != nil {
		return fail(fmt.Errorf("relay did not register: %w", err))
	}
	host, err := c.StartHost(ctx, dave, localstack.HostSpec{Name: "db-1", Tags: map[string]string{"env": "prod", "team": "data"}, Tenant: "acme"})
	if err != nil {
		return fail(err)
	}
	// The Host agent runs the command itself, so the command's parent is the agent's process.
	marker := fmt.Sprintf("run by process %d\n", host.Pid())
	step("alice (ops) signs in with MFA through the device flow")
	alice, err := c.Login(ctx, "alice@example.com", "password", "123456")
	if err != nil {
		return fail(err)
	}
	step("alice runs a command on db-1 through cs-eu-1: portcullis exec db-1 -- ...")
	var stdout, stderr bytes.Buffer
	run := c.Guest(ctx, alice, "exec", "-v", "db-1", "--", `echo "hello from $(hostname) as $(id -un), run by process $PPID"`)
	run.Stdout, run.Stderr = io.MultiWriter(&stdout, out), io.MultiWriter(&stderr, out)
	if err := run.Run(); err != nil {
		return fail(fmt.Errorf("demo: exec failed: %w", err))
	}
	if !strings.Contains(stdout.String(), marker) {
		return fail(fmt.Errorf("demo: the command's output lacks the Host's marker: it did not run on the Host (want %q)", marker))
	}
	m := decisionIDPattern.FindStringSubmatch(stderr.String())
	if m == nil {
		return fail(errors.New("demo: exec did not report its decision id"))
	}
	step("the decision record %s, as the CM committed it before minting any ticket:", m[1])
	d, err := c.Decision(ctx, alice, m[1])
	if err != nil {
		return fail(err)
	}
	if verbose {
		rec, _ := json.MarshalIndent(d, "", "  ")
		fmt.Fprintln(out, string(rec))
	} else {
		printDecisionSummary(out, d)
	}

	step("mallory (no groups) tries the same and is refused:")
	mallory, err := c.Login(ctx, "mallory@example.com", "password", "")
	if err != nil {
		return fail(err)
	}
	refused := c.Guest(ctx, mallory, "exec", "db-1", "--", "true")
	refused.Stdout, refused.Stderr = out, out
	if err := refused.Run(); err == nil {
		return fail(errors.New("demo: mallory was let in"))
	}
	step("web console: %s/ui/ (sign in as carol@example.com or dave@example.com, password \"password\"; the CM's certificate is signed by %s)", c.CMURL, c.CAFile)
	if keep {
		step("demo passed; everything keeps running (--keep): interrupt (Ctrl-C) to stop")
		<-ctx.Done()
		return nil
	}
	step("demo passed: the command ran on the Host through the relay; stopping everything")
	fmt.Fprint(out, demoNext)
	return nil
}

// printDecisionSummary prints the few lines of a decision record a newcomer looks for: who, what,
// the verdict and why, what it allows, and how to read the whole record.
func printDecisionSummary(w io.Writer, d api.Decision) {
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	var result struct {
		Obligations access.Obligations `json:"obligations"`
	}
	if b, err := json.Marshal(d.Result); err == nil {
		_ = json.Unmarshal(b, &result)
	}
	o := result.Obligations
	fmt.Fprintf(w, "    %s: %s on %s, policy revision %s\n", verdict, d.Subject, d.HostName, d.Revision)
	for _, r := range d.Reasons {
		fmt.Fprintf(w, "    reason: %s\n", r)
	}
	if d.Allow {
		fmt.Fprintf(w, "    allows: %s for up to %s, encryption at least %s\n", strings.Join(o.Channels, ", "),
			time.Duration(o.MaxDurationSeconds)*time.Second, o.MinEncryption)
	}
	if s := d.Labels["session_id"]; s != "" {
		fmt.Fprintf(w, "    outcome: %s, session %s\n", d.Labels["outcome"], s)
	}
	fmt.Fprintln(w, "    (portcullis demo -v prints the whole record: the policy's input and result)")
}

// demoNext is what the demo suggests trying by hand once it has stopped.
const demoNext = `
What to try next, by hand: README.md, "Running CM, CS and Host on separate machines", starts
with a walkthrough you can paste into one shell on this machine: certificates, the CM with the
development identity provider, a CS, enrolling a Host, signing in and running commands:

  portcullis certs init --dir certs --relay cs-eu-1
  portcullis cm --dev-idp --certs-dir certs --store sqlite:cm.db --listen 127.0.0.1:8443 --public-url https://127.0.0.1:8443 &
  ...
  echo hello | portcullis exec web-1 -- cat

Then try 'portcullis ssh web-1' and 'portcullis hosts' as alice, and 'portcullis sessions ls'
and 'portcullis relays ls' after signing in as dave again.
'portcullis demo -v' shows the whole decision record and every process's log.
`
