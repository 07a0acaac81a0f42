package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// requiredSetting is the flag annotation of a setting that must be given: by its flag, its
// PORTCULLIS_* variable or the config file (cobra's MarkFlagRequired sees only the flag).
const requiredSetting = "portcullis_required_setting"

// markRequired makes settings of cmd required; loadConfig refuses the command without them.
func markRequired(cmd *cobra.Command, names ...string) {
	for _, name := range names {
		if err := cmd.Flags().SetAnnotation(name, requiredSetting, []string{"true"}); err != nil {
			panic(fmt.Sprintf("markRequired: %v", err)) // a programming error: the flag is registered just above
		}
	}
}

// checkRequired refuses a required setting of flags that v has no value for, naming each.
func checkRequired(v *viper.Viper, flags *pflag.FlagSet) error {
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if _, ok := f.Annotations[requiredSetting]; !ok {
			return
		}
		if !v.IsSet(f.Name) || v.GetString(f.Name) == "" {
			errs = append(errs, fmt.Errorf("required setting %q not set: give --%s, %s or %s: in the --config file",
				f.Name, f.Name, envName(f.Name), f.Name))
		}
	})
	return errors.Join(errs...)
}

// envName is the environment variable of setting name.
func envName(name string) string {
	return "PORTCULLIS_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// checkFileKeys refuses every top-level key of the config file (read into file) that is none
// of the command's settings (its long flag names), naming it and, when one is close, the
// setting it probably means: a misspelt setting must not silently leave its default in force.
func checkFileKeys(path string, file *viper.Viper, flags *pflag.FlagSet) error {
	valid := map[string]*pflag.Flag{}
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "help" {
			valid[f.Name] = f
		}
	})
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(file.AllSettings())) {
		if _, ok := valid[key]; ok {
			continue
		}
		msg := fmt.Sprintf("config file %s: unknown setting %q", path, key)
		if s := suggestSetting(key, valid); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		errs = append(errs, errors.New(msg+"; the settings are the command's long flag names, see --help"))
	}
	return errors.Join(errs...)
}

// suggestSetting is the setting key probably means: the same with dashes for underscores or
// dots, else the visible one at the smallest edit distance, at most 2; "" when none is close.
func suggestSetting(key string, valid map[string]*pflag.Flag) string {
	norm := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(key))
	if _, ok := valid[norm]; ok {
		return norm
	}
	best, bestDist := "", 3
	for _, name := range slices.Sorted(maps.Keys(valid)) {
		if valid[name].Hidden {
			continue
		}
		if d := editDistance(norm, name); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decodeKeyValues lets a key=value,... string (a PORTCULLIS_* variable) fill a
// map[string]string setting, as its flag parses it (--tags env=prod,team=data).
func decodeKeyValues(c *mapstructure.DecoderConfig) {
	c.DecodeHook = mapstructure.ComposeDecodeHookFunc(c.DecodeHook,
		func(from, to reflect.Type, data any) (any, error) {
			if from.Kind() != reflect.String || to != reflect.TypeFor[map[string]string]() {
				return data, nil
			}
			return parseKeyValues(data.(string))
		})
}

// parseKeyValues parses key=value pairs separated by commas (CSV-quoted as pflag's).
func parseKeyValues(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	pairs, err := csv.NewReader(strings.NewReader(s)).Read()
	if err != nil {
		return nil, fmt.Errorf("%q is not key=value pairs separated by commas: %w", s, err)
	}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=value", p)
		}
		out[k] = v
	}
	return out, nil
}

// optionalBool is a boolean flag that may also be left unset (""), for a filter that is off
// unless given: --live lists live sessions, --live=false ended ones, neither all. Its type is
// boolfunc so that help shows it as a plain --live, as the other boolean flags, and viper
// hands its text ("", "true" or "false") to the configuration as it is.
type optionalBool struct{ value string }

func (b *optionalBool) String() string { return b.value }
func (b *optionalBool) Type() string   { return "boolfunc" }

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false: %w", err)
	}
	b.value = strconv.FormatBool(v)
	return nil
}

// addOptionalBool adds an optionalBool flag name.
func addOptionalBool(f *pflag.FlagSet, name, usage string) {
	f.Var(&optionalBool{}, name, usage)
	f.Lookup(name).NoOptDefVal = "true"
}

// parseOptionalBool reads an optionalBool setting: set is false when it was not given.
// A config file's true or false reaches the configuration as 1 or 0.
func parseOptionalBool(name, s string) (value, set bool, err error) {
	if s == "" {
		return false, false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, false, fmt.Errorf("--%s %q: want true or false", name, s)
	}
	return v, true, nil
}
