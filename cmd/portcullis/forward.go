package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/endpoint/guest"
)

func newForwardCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "forward HOST [LOCALPORT:]TARGET:PORT",
		Short: "Forward a loopback port to TARGET:PORT as the Host reaches it (only targets the policy lists)",
		Long: "Forward listens on 127.0.0.1:LOCALPORT (a free port when omitted; it is printed on stderr) and carries each " +
			"connection through the relay to the Host, which dials TARGET:PORT only when the session's obligations list it. " +
			"It runs until interrupted or the session ends.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg guestConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			spec, err := guest.ParseForwardSpec(args[1])
			if err != nil {
				return err
			}
			ln, err := guest.ListenForward(spec)
			if err != nil {
				return err
			}
			defer ln.Close()
			log, err := logConfig{LogLevel: "info", out: cmd.ErrOrStderr()}.newLogger()
			if err != nil {
				return err
			}
			return runGuestSession(cmd, cfg, args[0], []string{"forward"}, func(ctx context.Context, s *guest.Session) (int, error) {
				fmt.Fprintf(cmd.ErrOrStderr(), "portcullis: forwarding %s to %s on %s\n", ln.Addr(), spec.Target, args[0])
				return 0, guest.Forward(ctx, s.Client, ln, spec.Target, log)
			})
		},
	}
	addSessionFlags(cmd)
	return cmd
}
