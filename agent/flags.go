package agent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// usageError is a bad flag, environment variable or argument: the process exits 2 with its message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// option binds one flag to its environment variable. The environment fills the default; a flag given
// on the command line wins over both.
type option struct {
	name    string // flag name without dashes
	env     string // environment variable, "" for none
	usage   string
	secret  bool // value never printed (help shows only whether it is set)
	value   flag.Value
	defText string
}

// optionSet is the flags of one command, in the order they were declared.
type optionSet struct {
	cmd     string
	summary string
	fs      *flag.FlagSet
	opts    []*option
}

func newOptionSet(cmd, summary string) *optionSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &optionSet{cmd: cmd, summary: summary, fs: fs}
}

func (s *optionSet) add(name, env, usage string, v flag.Value, secret bool) {
	s.fs.Var(v, name, usage)
	s.opts = append(s.opts, &option{name: name, env: env, usage: usage, value: v, secret: secret, defText: v.String()})
}

func (s *optionSet) String(p *string, name, env, def, usage string) {
	*p = def
	s.add(name, env, usage, (*stringValue)(p), false)
}

func (s *optionSet) Secret(p *string, name, env, usage string) {
	s.add(name, env, usage, (*stringValue)(p), true)
}

func (s *optionSet) Int(p *int, name, env string, def int, usage string) {
	*p = def
	s.add(name, env, usage, (*intValue)(p), false)
}

func (s *optionSet) Bool(p *bool, name, env string, def bool, usage string) {
	*p = def
	s.add(name, env, usage, (*boolValue)(p), false)
}

func (s *optionSet) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	*p = def
	s.add(name, env, usage, (*durationValue)(p), false)
}

// Enum accepts only one of choices.
func (s *optionSet) Enum(p *string, name, env, def string, choices []string, usage string) {
	*p = def
	s.add(name, env, usage+" ("+strings.Join(choices, "|")+")", &enumValue{p: p, choices: choices}, false)
}

// parse applies the environment (lookup) and then args. It returns the positional arguments.
// A "--" ends the flags; what follows is returned untouched (the child command of a supervisor).
func (s *optionSet) parse(args []string, lookup func(string) (string, bool)) (rest []string, err error) {
	for _, o := range s.opts {
		if o.env == "" {
			continue
		}
		v, ok := lookup(o.env)
		if !ok {
			continue
		}
		if err := o.value.Set(v); err != nil {
			return nil, usagef("%s: invalid value for environment variable %s (flag --%s): %v", s.cmd, o.env, o.name, describe(o, err))
		}
	}
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%s: %v", s.cmd, s.explain(err))
	}
	return s.fs.Args(), nil
}

// explain names the environment variable next to the flag in flag's own error messages.
func (s *optionSet) explain(err error) string {
	msg := err.Error()
	for _, o := range s.opts {
		if strings.Contains(msg, "-"+o.name+":") && o.env != "" {
			return strings.Replace(msg, "-"+o.name+":", "--"+o.name+" (env "+o.env+"):", 1)
		}
	}
	return msg
}

func describe(o *option, err error) string {
	if o.secret {
		return "value rejected"
	}
	return err.Error()
}

// help prints the command's usage with every flag, its environment variable and default.
func (s *optionSet) help(w io.Writer, synopsis string) {
	fmt.Fprintf(w, "Usage: replset-agent %s\n\n%s\n\nFlags (environment variable, default):\n", synopsis, s.summary)
	opts := append([]*option(nil), s.opts...)
	sort.SliceStable(opts, func(i, j int) bool { return opts[i].name < opts[j].name })
	for _, o := range opts {
		env := o.env
		if env == "" {
			env = "-"
		}
		def := o.defText
		switch {
		case o.secret:
			def = "none"
		case def == "":
			def = `""`
		}
		fmt.Fprintf(w, "  --%s\n        %s (%s, default %s)\n", o.name, o.usage, env, def)
	}
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 30s or 2m", s)
	}
	if d < 0 {
		return fmt.Errorf("%q is negative", s)
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }

type enumValue struct {
	p       *string
	choices []string
}

func (v *enumValue) Set(s string) error {
	for _, c := range v.choices {
		if s == c {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", s, strings.Join(v.choices, ", "))
}
func (v *enumValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

// noEnv is an empty environment, for configurations built in code (the demo, tests).
func noEnv(string) (string, bool) { return "", false }
