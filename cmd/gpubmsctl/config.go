package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// configFile is the config file: named contexts, kubectl style. It holds
// no token, only the path of a file that does.
type configFile struct {
	CurrentContext string          `yaml:"current-context,omitempty" json:"current-context"`
	Contexts       []*contextEntry `yaml:"contexts" json:"contexts"`
}

// contextEntry is one context: where the server is and how to reach it.
// Relative paths are relative to the config file's directory; ~/ is the
// home directory.
type contextEntry struct {
	Name       string `yaml:"name" json:"name"`
	Addr       string `yaml:"addr,omitempty" json:"addr,omitempty"`
	TokenFile  string `yaml:"token-file,omitempty" json:"token-file,omitempty"`
	CACert     string `yaml:"cacert,omitempty" json:"cacert,omitempty"`
	Cert       string `yaml:"cert,omitempty" json:"cert,omitempty"`
	Key        string `yaml:"key,omitempty" json:"key,omitempty"`
	ServerName string `yaml:"server-name,omitempty" json:"server-name,omitempty"`
	// Insecure: true plaintext, false TLS, unset the loopback rule.
	Insecure *bool `yaml:"insecure,omitempty" json:"insecure,omitempty"`
}

func (c *configFile) find(name string) *contextEntry {
	for _, e := range c.Contexts {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func (c *configFile) names() []string {
	out := make([]string, 0, len(c.Contexts))
	for _, e := range c.Contexts {
		out = append(out, e.Name)
	}
	return out
}

// configPath is the config file: $GPUBMS_CONFIG, else
// $XDG_CONFIG_HOME/gpubms/config.yaml, else ~/.config/gpubms/config.yaml;
// "" when there is no home to put it in.
func configPath(getenv func(string) string) string {
	if p := getenv("GPUBMS_CONFIG"); p != "" {
		return p
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "gpubms", "config.yaml")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "gpubms", "config.yaml")
	}
	return ""
}

// maxConfigSize bounds what is read of the config file and of a token file.
const maxConfigSize = 1 << 20

// loadConfig reads the config file; a missing one is an empty config.
func loadConfig(path string) (*configFile, error) {
	cfg := &configFile{}
	if path == "" {
		return cfg, nil
	}
	b, err := readLimited(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, &configError{fmt.Errorf("config file: %w", err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		if strings.Contains(err.Error(), "field token not found") {
			return nil, &configError{fmt.Errorf("config file %s: a context holds no token, only token-file: the path of a file that holds it", path)}
		}
		return nil, &configError{fmt.Errorf("config file %s: %w", path, err)}
	}
	seen := map[string]bool{}
	for i, e := range cfg.Contexts {
		if e == nil || e.Name == "" {
			return nil, &configError{fmt.Errorf("config file %s: context %d has no name", path, i+1)}
		}
		if seen[e.Name] {
			return nil, &configError{fmt.Errorf("config file %s: context %q is there twice", path, e.Name)}
		}
		seen[e.Name] = true
	}
	return cfg, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigSize)
	}
	return b, nil
}

// saveConfig writes the config file whole, readable by its owner only
// (0600, in a directory made 0700), through a temporary file renamed over
// it so that a reader never sees half of it.
func saveConfig(path string, cfg *configFile) error {
	if path == "" {
		return &configError{errors.New("no config file: set HOME, XDG_CONFIG_HOME or GPUBMS_CONFIG")}
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // write through a link, keep the link
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &configError{fmt.Errorf("config file: %w", err)}
	}
	var buf bytes.Buffer
	buf.WriteString("# gpubmsctl contexts: edit with gpubmsctl config set-context, use-context, delete-context.\n" +
		"# Tokens are not stored here: a context names a token-file that holds one.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return &configError{fmt.Errorf("config file: %w", err)}
	}
	tmp := f.Name()
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return &configError{fmt.Errorf("config file %s: %w", path, err)}
	}
	return nil
}

// expandPath makes a path of the config file usable: ~/ is the home
// directory, and a relative path is relative to base (the config file's
// directory).
func expandPath(p, base string, getenv func(string) string) string {
	if p == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, rest)
		}
	}
	if !filepath.IsAbs(p) && base != "" {
		return filepath.Join(base, p)
	}
	return p
}

// selectContext finds the context of this run: --context, else
// GPUBMS_CONTEXT, else the file's current-context; nil when none is named
// (or --context "" says none). how says which named it.
func (a *app) selectContext(flags *pflag.FlagSet) (cx *contextEntry, how, path string, err error) {
	path = configPath(a.getenv)
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, "", path, err
	}
	var name string
	switch {
	case flags.Changed("context"):
		name, how = a.contextName, "--context"
	case a.getenv("GPUBMS_CONTEXT") != "":
		name, how = a.getenv("GPUBMS_CONTEXT"), "GPUBMS_CONTEXT"
	default:
		name, how = cfg.CurrentContext, "current-context"
	}
	if name == "" {
		return nil, "", path, nil
	}
	if cx = cfg.find(name); cx != nil {
		return cx, how, path, nil
	}
	where := "config file " + cmp.Or(path, "(none: no HOME)")
	if how == "current-context" {
		return nil, how, path, &configError{fmt.Errorf("the current-context %q of %s is not one of its contexts: gpubmsctl config use-context NAME", name, where)}
	}
	msg := fmt.Sprintf("%s %q: no such context in %s", how, name, where)
	if s := closest(name, cfg.names()); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else if len(cfg.Contexts) > 0 {
		msg += " (gpubmsctl config get-contexts lists them)"
	}
	return nil, how, path, usagef("%s", msg)
}

// resolve settles the connection settings: each from its flag if given,
// else its environment variable, else the context, else the default.
func (a *app) resolve(cmd *cobra.Command) error {
	if a.resolved {
		return nil
	}
	flags := cmd.Flags()
	cx, how, path, err := a.selectContext(flags)
	if err != nil {
		return err
	}
	base := filepath.Dir(path)
	ctxSource := func(field string) string { return fmt.Sprintf("context %q (%s)", cx.Name, field) }

	source := map[string]string{}
	// pick sets *v from the flag, the variable or the context's value.
	pick := func(flag, env, fromContext string, v *string) {
		switch {
		case flags.Changed(flag):
			source[flag] = "--" + flag
		case a.getenv(env) != "":
			*v = a.getenv(env)
			source[flag] = env
			if how == "--context" && fromContext != "" && fromContext != *v {
				fmt.Fprintf(a.stderr, "gpubmsctl: %s overrides the %s of context %q\n", env, flag, cx.Name)
			}
		case fromContext != "":
			*v = fromContext
			source[flag] = ctxSource(flag)
		}
	}
	var c contextEntry
	if cx != nil {
		c = *cx
		c.CACert = expandPath(c.CACert, base, a.getenv)
		c.Cert = expandPath(c.Cert, base, a.getenv)
		c.Key = expandPath(c.Key, base, a.getenv)
		c.TokenFile = expandPath(c.TokenFile, base, a.getenv)
	}
	pick("addr", "GPUBMS_ADDR", c.Addr, &a.addr)
	a.addr = cmp.Or(a.addr, defaultAddr)
	pick("cacert", "GPUBMS_CACERT", c.CACert, &a.cacert)
	pick("cert", "GPUBMS_CERT", c.Cert, &a.cert)
	pick("key", "GPUBMS_KEY", c.Key, &a.key)
	pick("server-name", "GPUBMS_SERVER_NAME", c.ServerName, &a.serverName)

	if a.cert != "" && a.key == "" {
		return usagef("%s needs --key (or GPUBMS_KEY): a client certificate needs its private key", source["cert"])
	}
	if a.key != "" && a.cert == "" {
		return usagef("%s needs --cert (or GPUBMS_CERT): a private key needs its client certificate", source["key"])
	}

	// The sources that mean TLS, and whether one is not the context.
	var tlsFrom []string
	tlsOutsideContext := false
	for _, f := range []struct {
		flag string
		v    string
	}{{"cacert", a.cacert}, {"cert", a.cert}, {"key", a.key}, {"server-name", a.serverName}} {
		if f.v != "" {
			tlsFrom = append(tlsFrom, source[f.flag])
			tlsOutsideContext = tlsOutsideContext || !strings.HasPrefix(source[f.flag], "context ")
		}
	}
	insecureFrom := ""
	switch {
	case flags.Changed("insecure"):
		insecureFrom = "--insecure"
	case c.Insecure != nil && !(*c.Insecure && tlsOutsideContext):
		// A TLS setting of a flag or variable outranks the context's
		// plaintext.
		a.insecure, insecureFrom = *c.Insecure, ctxSource("insecure")
	default:
		a.insecure = len(tlsFrom) == 0 && isLoopback(a.addr)
	}
	if insecureFrom != "" && a.insecure && len(tlsFrom) > 0 {
		return usagef("%s conflicts with %s, which means TLS: drop one", insecureFrom, strings.Join(tlsFrom, ", "))
	}

	switch {
	case flags.Changed("token") && flags.Changed("token-file"):
		return usagef("--token and --token-file conflict: give one")
	case flags.Changed("token"):
	case flags.Changed("token-file"):
		if a.token, err = readToken(expandPath(a.tokenFile, "", a.getenv), "--token-file"); err != nil {
			return err
		}
	case a.getenv("GPUBMS_TOKEN") != "":
		a.token = a.getenv("GPUBMS_TOKEN")
	case a.getenv("GPUBMS_TOKEN_FILE") != "":
		if a.token, err = readToken(expandPath(a.getenv("GPUBMS_TOKEN_FILE"), "", a.getenv), "GPUBMS_TOKEN_FILE"); err != nil {
			return err
		}
	case c.TokenFile != "":
		if a.token, err = readToken(c.TokenFile, ctxSource("token-file")); err != nil {
			return err
		}
	}
	a.resolved = true
	return nil
}

// readToken reads a token file: its first line, trimmed. The error names
// the file, never what it holds.
func readToken(path, from string) (string, error) {
	b, err := readLimited(path)
	if err != nil {
		return "", &configError{fmt.Errorf("token file of %s: %w", from, err)}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	tok := strings.TrimSpace(line)
	if tok == "" {
		return "", &configError{fmt.Errorf("token file %s of %s is empty", path, from)}
	}
	return tok, nil
}

// validContextName: printable, no spaces, at most 128 characters.
func validContextName(name string) error {
	if name == "" || len(name) > 128 || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return usagef("context name %q: want 1 to 128 printable characters, no spaces", name)
	}
	return nil
}

// offlineE marks the start of a command that does not call the server.
func (a *app) offlineE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.running = true
		return f(cmd, args)
	}
}

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config SUBCOMMAND",
		Short: "Manage the named contexts of the config file (get-contexts, use-context, set-context, ...)",
		Long: `Manage the named contexts of the config file, kubectl style.

A context names a server and how to reach it: its address, the file that
holds the token (never the token itself), and the TLS settings (CA file,
client certificate and key, server name, insecure for plaintext). The
current context is used unless --context NAME (or GPUBMS_CONTEXT) names
another, and --context "" none; a flag or environment variable given for a
setting wins over the context.

The file is $GPUBMS_CONFIG, else $XDG_CONFIG_HOME/gpubms/config.yaml, else
~/.config/gpubms/config.yaml, written readable by its owner only (0600):

  current-context: prod
  contexts:
    - name: prod
      addr: gpubms.example.com:443
      token-file: ~/.config/gpubms/prod.token
      cacert: /etc/gpubms/ca.pem      # relative paths: to the file's directory
      server-name: gpubms.internal
    - name: local
      addr: 127.0.0.1:9090`,
		Example: `  gpubmsctl config set-context prod --addr gpubms.example.com:443 --token-file ~/.config/gpubms/prod.token
  gpubmsctl config use-context prod
  gpubmsctl config get-contexts
  gpubmsctl --context local regions`,
		Annotations:       map[string]string{annotationOffline: "true"},
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			cmd.SetOut(a.stderr)
			_ = cmd.Help()
			return usagef("config needs a subcommand")
		},
	}
	cmd.AddCommand(a.getContextsCommand(), a.currentContextCommand(), a.useContextCommand(),
		a.setContextCommand(), a.deleteContextCommand())
	return cmd
}

func (a *app) getContextsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get-contexts [NAME...]",
		Short: "List the contexts, the current one marked *",
		Example: `  gpubmsctl config get-contexts
  gpubmsctl config get-contexts prod -o yaml`,
		RunE: a.offlineE(func(_ *cobra.Command, args []string) error {
			path := configPath(a.getenv)
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			var list []*contextEntry
			for _, name := range args {
				e := cfg.find(name)
				if e == nil {
					return &configError{fmt.Errorf("no context %q in %s", name, cmp.Or(path, "the config file"))}
				}
				list = append(list, e)
			}
			if len(args) == 0 {
				list = cfg.Contexts
			}
			if a.output != formatTable {
				return a.writeValue(struct {
					File           string          `json:"file"`
					CurrentContext string          `json:"current-context"`
					Contexts       []*contextEntry `json:"contexts"`
				}{path, cfg.CurrentContext, append([]*contextEntry{}, list...)})
			}
			rows := make([][]string, 0, len(list))
			for _, e := range list {
				current := ""
				if e.Name == cfg.CurrentContext {
					current = "*"
				}
				rows = append(rows, []string{current, e.Name, cmp.Or(e.Addr, "-"), cmp.Or(e.TokenFile, "-"), describeTLS(e)})
			}
			return a.printer().table([]string{"CURRENT", "NAME", "ADDR", "TOKEN FILE", "TLS"}, rows...)
		}),
	}
}

// describeTLS says how a context connects.
func describeTLS(e *contextEntry) string {
	if e.Insecure != nil && *e.Insecure {
		return "plaintext"
	}
	var parts []string
	if e.CACert != "" {
		parts = append(parts, "ca "+e.CACert)
	}
	if e.Cert != "" {
		parts = append(parts, "client cert")
	}
	if e.ServerName != "" {
		parts = append(parts, "name "+e.ServerName)
	}
	switch {
	case len(parts) > 0:
		return "tls: " + strings.Join(parts, ", ")
	case e.Insecure != nil:
		return "tls"
	}
	return "auto"
}

func (a *app) currentContextCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "current-context",
		Short:   "Print the name of the current context",
		Example: `  gpubmsctl config current-context`,
		Args:    noArgs,
		RunE: a.offlineE(func(_ *cobra.Command, _ []string) error {
			path := configPath(a.getenv)
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if cfg.CurrentContext == "" {
				return &configError{fmt.Errorf("no current context in %s: set one with gpubmsctl config use-context NAME", cmp.Or(path, "the config file"))}
			}
			if a.output != formatTable {
				return a.writeValue(map[string]string{"current-context": cfg.CurrentContext})
			}
			_, err = fmt.Fprintln(a.stdout, cfg.CurrentContext)
			return err
		}),
	}
}

func (a *app) useContextCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "use-context NAME",
		Short:   "Make a context the current one",
		Example: `  gpubmsctl config use-context prod`,
		Args:    exactArgs(1, "a context name"),
		RunE: a.offlineE(func(_ *cobra.Command, args []string) error {
			path := configPath(a.getenv)
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if cfg.find(args[0]) == nil {
				msg := fmt.Sprintf("no context %q in %s", args[0], cmp.Or(path, "the config file"))
				if s := closest(args[0], cfg.names()); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				return &configError{errors.New(msg)}
			}
			cfg.CurrentContext = args[0]
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			if a.output != formatTable {
				return a.writeValue(map[string]string{"current-context": cfg.CurrentContext})
			}
			_, err = fmt.Fprintf(a.stdout, "Switched to context %q.\n", args[0])
			return err
		}),
	}
}

func (a *app) setContextCommand() *cobra.Command {
	var (
		e       contextEntry
		current bool
	)
	cmd := &cobra.Command{
		Use:   "set-context NAME [--addr A] [--token-file F] [--cacert F] [--cert F --key F] [--server-name N] [--insecure] [--current]",
		Short: "Create a context, or change the settings given of an existing one",
		Long: `Create a context, or change the settings given of an existing one (an
empty value, e.g. --token-file "", removes a setting).

The token is never stored: write it to a file only you can read (chmod 600)
and give the file with --token-file. File paths are stored absolute.
--current also makes the context the current one.`,
		Example: `  gpubmsctl config set-context prod --addr gpubms.example.com:443 --token-file ~/.config/gpubms/prod.token
  gpubmsctl config set-context staging --addr 10.1.2.3:9090 --cacert ca.pem --server-name gpubms.internal --current
  gpubmsctl config set-context local --addr 127.0.0.1:9090 --insecure`,
		Args: exactArgs(1, "a context name"),
		RunE: a.offlineE(func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := validContextName(name); err != nil {
				return err
			}
			if flagChanged(a.root.PersistentFlags(), "token") {
				return usagef("set-context stores no token, only the path of a file that holds it: --token-file FILE")
			}
			path := configPath(a.getenv)
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			entry := cfg.find(name)
			created := entry == nil
			if created {
				entry = &contextEntry{Name: name}
			}
			f := cmd.Flags()
			set := func(flag string, from string, to *string, isPath bool) error {
				if !f.Changed(flag) {
					return nil
				}
				if isPath && from != "" {
					from = expandPath(from, "", a.getenv)
					abs, err := filepath.Abs(from)
					if err != nil {
						return err
					}
					from = abs
				}
				*to = from
				return nil
			}
			for _, s := range []struct {
				flag     string
				from     string
				to       *string
				filePath bool
			}{
				{"addr", e.Addr, &entry.Addr, false},
				{"token-file", e.TokenFile, &entry.TokenFile, true},
				{"cacert", e.CACert, &entry.CACert, true},
				{"cert", e.Cert, &entry.Cert, true},
				{"key", e.Key, &entry.Key, true},
				{"server-name", e.ServerName, &entry.ServerName, false},
			} {
				if err := set(s.flag, s.from, s.to, s.filePath); err != nil {
					return err
				}
			}
			if f.Changed("insecure") {
				entry.Insecure = e.Insecure
			}
			if (entry.Cert == "") != (entry.Key == "") {
				return usagef("context %q: --cert and --key go together: a client certificate needs its private key", name)
			}
			if entry.Insecure != nil && *entry.Insecure && (entry.CACert != "" || entry.Cert != "" || entry.ServerName != "") {
				return usagef("context %q: --insecure conflicts with its TLS settings (cacert, cert, server-name): drop one", name)
			}
			if created {
				cfg.Contexts = append(cfg.Contexts, entry)
			}
			if current {
				cfg.CurrentContext = name
			}
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			if entry.TokenFile != "" && f.Changed("token-file") {
				a.checkTokenFile(entry.TokenFile)
			}
			verb := "modified"
			if created {
				verb = "created"
			}
			if a.output != formatTable {
				return a.writeValue(entry)
			}
			_, err = fmt.Fprintf(a.stdout, "Context %q %s in %s.\n", name, verb, path)
			if err == nil && current {
				_, err = fmt.Fprintf(a.stdout, "Switched to context %q.\n", name)
			}
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&e.Addr, "addr", "", "the server's gRPC address, e.g. gpubms.example.com:443")
	f.StringVar(&e.TokenFile, "token-file", "", "`FILE` holding the bearer token (the token itself is never stored)")
	f.StringVar(&e.CACert, "cacert", "", "PEM `FILE` of the CA certificates that verify the server")
	f.StringVar(&e.Cert, "cert", "", "PEM `FILE` of a client certificate, with --key")
	f.StringVar(&e.Key, "key", "", "PEM `FILE` of its private key, with --cert")
	f.StringVar(&e.ServerName, "server-name", "", "`NAME` the server's certificate is verified against")
	f.Var(optionalBool{&e.Insecure}, "insecure", "plaintext (true) or TLS (false); unset: plaintext for loopback addresses only")
	f.Lookup("insecure").NoOptDefVal = "true"
	f.BoolVar(&current, "current", false, "also make it the current context")
	return cmd
}

// checkTokenFile warns about a token file that is missing or that others
// can read.
func (a *app) checkTokenFile(path string) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(a.stderr, "gpubmsctl: note: token file %s does not exist yet\n", path)
	case err == nil && st.Mode().Perm()&0o077 != 0:
		fmt.Fprintf(a.stderr, "gpubmsctl: note: others can read token file %s (mode %04o): chmod 600 %s\n", path, st.Mode().Perm(), shellQuote(path))
	}
}

func (a *app) deleteContextCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "delete-context NAME",
		Short:   "Delete a context (the token file is left alone)",
		Example: `  gpubmsctl config delete-context staging`,
		Args:    exactArgs(1, "a context name"),
		RunE: a.offlineE(func(_ *cobra.Command, args []string) error {
			path := configPath(a.getenv)
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(cfg.Contexts, func(e *contextEntry) bool { return e.Name == args[0] })
			if i < 0 {
				return &configError{fmt.Errorf("no context %q in %s", args[0], cmp.Or(path, "the config file"))}
			}
			cfg.Contexts = slices.Delete(cfg.Contexts, i, i+1)
			if cfg.CurrentContext == args[0] {
				cfg.CurrentContext = ""
			}
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			if a.output != formatTable {
				return a.writeValue(map[string]string{"deleted": args[0]})
			}
			_, err = fmt.Fprintf(a.stdout, "Deleted context %q.\n", args[0])
			return err
		}),
	}
}

// optionalBool is a bool flag that remembers whether it was given.
type optionalBool struct{ v **bool }

func (o optionalBool) String() string {
	if o.v == nil || *o.v == nil {
		return ""
	}
	return fmt.Sprint(**o.v)
}

func (o optionalBool) Set(s string) error {
	var b bool
	switch strings.ToLower(s) {
	case "true", "1", "t", "yes":
		b = true
	case "false", "0", "f", "no":
	default:
		return fmt.Errorf("want true or false, not %q", s)
	}
	*o.v = &b
	return nil
}

func (o optionalBool) Type() string { return "bool" }

func (o optionalBool) IsBoolFlag() bool { return true }

// isLoopback reports whether a gRPC target names this machine: a loopback IP,
// localhost, or a unix socket.
func isLoopback(target string) bool {
	if strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:") {
		return true
	}
	if i := strings.Index(target, ":///"); i >= 0 { // dns:///host:port, passthrough:///...
		target = target[i+len(":///"):]
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = strings.Trim(target, "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// flagChanged reports whether the named flag was given on the command line.
func flagChanged(f *pflag.FlagSet, name string) bool {
	fl := f.Lookup(name)
	return fl != nil && fl.Changed
}
