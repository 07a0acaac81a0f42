package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Log formats of --log-format.
const (
	// logFormatText is slog's text handler: key=value pairs, one record a line.
	logFormatText = "text"
	// logFormatJSON is slog's JSON handler: one JSON object a line.
	logFormatJSON = "json"
)

// logConfig is the logging configuration every daemon (cm, cs, host) squashes into its own:
// --log-level and --log-format, also log-level and log-format in the configuration file and
// PORTCULLIS_LOG_LEVEL and PORTCULLIS_LOG_FORMAT in the environment.
type logConfig struct {
	// LogLevel is debug, info, warn or error; default info.
	LogLevel string `mapstructure:"log-level"`
	// LogFormat is text or json; default text.
	LogFormat string `mapstructure:"log-format"`
	// out receives the records; loadConfig sets the command's error stream, nil means stderr.
	out io.Writer
}

// setLogOutput has the logger write to w; loadConfig calls it with the command's error stream.
func (c *logConfig) setLogOutput(w io.Writer) { c.out = w }

// addLogFlag adds the logging flags of a daemon: --log-level and --log-format.
func addLogFlag(cmd *cobra.Command) {
	cmd.Flags().String("log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().String("log-format", logFormatText, "log format: text (key=value lines) or json (one JSON object a line)")
}

// newLogger returns the logger c describes, or an error that names a level or format it does
// not know.
func (c logConfig) newLogger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log-level %q: %w", c.LogLevel, err)
	}
	out := c.out
	if out == nil {
		out = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case logFormatText, "":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	case logFormatJSON:
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	default:
		return nil, fmt.Errorf("log-format %q: want %s or %s", c.LogFormat, logFormatText, logFormatJSON)
	}
}
