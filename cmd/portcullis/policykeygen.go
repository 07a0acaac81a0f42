package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/atomicfile"
	"github.com/portcullis/portcullis/policy"
)

func newPolicyKeygenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen --private FILE --public FILE",
		Short: "Make an ECDSA P-384 key pair for signing policy bundles (ES384): keep the private key with the release process, give the CM the public one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg policyKeygenConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			if err := writeBundleKeys(cfg.Private, cfg.Public, cfg.Force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (private) and %s (public)\n", cfg.Private, cfg.Public)
			return nil
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().String("private", "", "file for the PEM private key (mode 0600)")
	cmd.Flags().String("public", "", "file for the PEM public key")
	cmd.Flags().Bool("force", false, "overwrite existing key files")
	markRequired(cmd, "private", "public")
	return cmd
}

// policyKeygenConfig is the configuration of 'policy keygen'.
type policyKeygenConfig struct {
	Private string `mapstructure:"private"`
	Public  string `mapstructure:"public"`
	Force   bool   `mapstructure:"force"`
}

// writeBundleKeys makes a bundle signing key pair and writes it to privFile and pubFile. An
// existing file is refused, and neither is written, unless force: a signing key replaced by
// mistake can no longer sign bundles the CMs verify.
func writeBundleKeys(privFile, pubFile string, force bool) error {
	priv, pub, err := policy.GenerateBundleKey()
	if err != nil {
		return err
	}
	if force {
		if err := atomicfile.Write(privFile, priv, 0o600); err != nil {
			return fmt.Errorf("write private key: %w", err)
		}
		if err := atomicfile.Write(pubFile, pub, 0o644); err != nil {
			return fmt.Errorf("write public key: %w", err)
		}
		return nil
	}
	for _, f := range []string{privFile, pubFile} {
		if _, err := os.Lstat(f); err == nil {
			return fmt.Errorf("%s exists: run again with --force to replace the key pair (bundles signed with the old key then no longer verify)", f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := writeNew(privFile, priv, 0o600); err != nil {
		return fmt.Errorf("write private key: %w", err)
	}
	if err := writeNew(pubFile, pub, 0o644); err != nil {
		_ = os.Remove(privFile) // the pair is written whole or not at all
		return fmt.Errorf("write public key: %w", err)
	}
	return nil
}

// writeNew writes data to a new file name, refusing one that exists (O_EXCL).
func writeNew(name string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(name)
		return err
	}
	return nil
}
