package auth

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gpubms/gpubms/server/tlstest"
)

// secret is a deterministic token of 64 hex characters, distinct for each
// seed and unlike any word an error message could contain.
func secret(seed string) string {
	h := sha256.Sum256([]byte("gpubms auth test " + seed))
	return hex.EncodeToString(h[:])
}

// writeTokens writes content to dir/name and returns its path.
func writeTokens(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
	return p
}

// replaceTokens atomically replaces path with content.
func replaceTokens(t testing.TB, path, content string) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokens-*")
	if err != nil {
		t.Fatalf("create temp: %v", err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		t.Fatalf("write temp: %v", err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatalf("close temp: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatalf("rename: %v", err)
	}
}

func mustNew(t *testing.T, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// assertNoSecret fails if err's text contains any of the secrets.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains the token %q, want no token text in errors", err, s)
		}
	}
}

// wantCaller authenticates and compares the caller.
func wantCaller(t *testing.T, a *Authenticator, token string, hasToken bool, cert *x509.Certificate, want Caller) {
	t.Helper()
	got, err := a.Authenticate(token, hasToken, cert)
	if err != nil {
		t.Errorf("Authenticate(hasToken=%v, cert=%v): error %v, want caller %+v", hasToken, cert != nil, err, want)
		return
	}
	if got != want {
		t.Errorf("Authenticate(hasToken=%v, cert=%v) = %+v, want %+v", hasToken, cert != nil, got, want)
	}
}

// wantRefused authenticates and wants err (errors.Is), and a zero caller.
func wantRefused(t *testing.T, a *Authenticator, token string, hasToken bool, cert *x509.Certificate, want error) {
	t.Helper()
	got, err := a.Authenticate(token, hasToken, cert)
	if !errors.Is(err, want) {
		t.Errorf("Authenticate(hasToken=%v, cert=%v) = %+v, %v; want error %v", hasToken, cert != nil, got, err, want)
	}
	if got != (Caller{}) {
		t.Errorf("Authenticate(hasToken=%v, cert=%v) refused with caller %+v, want the zero Caller", hasToken, cert != nil, got)
	}
	assertNoSecret(t, err, token)
}

func TestConfigEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want bool
	}{
		{"zero", Config{}, false},
		{"certificate role only", Config{CertificateRole: Operator}, false},
		{"empty tokens slice", Config{Tokens: []string{}}, false},
		{"token", Config{Token: secret("a")}, true},
		{"tokens", Config{Tokens: []string{secret("a")}}, true},
		{"file", Config{File: "/nonexistent"}, true},
		{"certificates", Config{Certificates: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.cfg.Enabled(); got != tt.want {
				t.Errorf("Config.Enabled() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAuthenticationOff(t *testing.T) {
	t.Parallel()
	a := mustNew(t, Config{})
	if a.Enabled() {
		t.Fatalf("Enabled() = true for the zero Config, want false")
	}
	if n, err := a.Reload(); err != nil || n != 0 {
		t.Errorf("Reload() = %d, %v; want 0, nil", n, err)
	}
	cert := leafCert(t, certSpec{cn: "alice"})
	want := Caller{Name: Anonymous, Role: Operator, Via: ViaNone}
	tests := []struct {
		name     string
		token    string
		hasToken bool
		cert     *x509.Certificate
	}{
		{"nothing", "", false, nil},
		{"any token", "whatever", true, nil},
		{"empty token", "", true, nil},
		{"certificate", "", false, cert},
		{"token and certificate", secret("x"), true, cert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantCaller(t, a, tt.token, tt.hasToken, tt.cert, want)
		})
	}
}

func TestEnvTokens(t *testing.T) {
	t.Parallel()
	tok, t1, t2, t3 := secret("token"), secret("t1"), secret("t2"), secret("t3")
	a := mustNew(t, Config{Token: tok, Tokens: []string{t1, t2, t3}})
	if !a.Enabled() {
		t.Fatalf("Enabled() = false, want true")
	}
	if n, err := a.Reload(); err != nil || n != 4 {
		t.Errorf("Reload() = %d, %v; want 4, nil", n, err)
	}
	tests := []struct {
		token string
		want  string
	}{
		{tok, "token"},
		{t1, "token-1"},
		{t2, "token-2"},
		{t3, "token-3"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			wantCaller(t, a, tt.token, true, nil, Caller{Name: tt.want, Role: Operator, Via: ViaToken})
		})
	}
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		wantRefused(t, a, secret("other"), true, nil, ErrUnknownToken)
		wantRefused(t, a, "", true, nil, ErrUnknownToken)
		wantRefused(t, a, tok+" ", true, nil, ErrUnknownToken)
		wantRefused(t, a, strings.ToUpper(tok), true, nil, ErrUnknownToken)
		wantRefused(t, a, tok[:len(tok)-1], true, nil, ErrUnknownToken)
		// A token passed with hasToken=false is no credential at all.
		wantRefused(t, a, tok, false, nil, ErrNoCredentials)
		wantRefused(t, a, "", false, nil, ErrNoCredentials)
	})
}

func TestTokensOnlyNumbering(t *testing.T) {
	t.Parallel()
	// Tokens without Token still start at token-1, and Token alone is
	// "token".
	t1 := secret("only-1")
	a := mustNew(t, Config{Tokens: []string{t1}})
	wantCaller(t, a, t1, true, nil, Caller{Name: "token-1", Role: Operator, Via: ViaToken})
	tok := secret("only")
	b := mustNew(t, Config{Token: tok})
	wantCaller(t, b, tok, true, nil, Caller{Name: "token", Role: Operator, Via: ViaToken})
	wantRefused(t, b, t1, true, nil, ErrUnknownToken)
}

func TestTokensFileParsing(t *testing.T) {
	t.Parallel()
	alice, bob, carol, dave := secret("alice"), secret("bob"), secret("carol"), secret("dave")
	content := strings.Join([]string{
		"# callers of gpubms",
		"",
		"   ",
		"\t",
		"alice operator " + alice + "   # the on-call operator",
		"  bob\treader\t" + bob,
		"#carol operator " + secret("commented-out"),
		"carol   reader   " + carol + "\r", // CRLF line
		"dave operator " + dave + "#no space before the comment",
		"    # indented comment",
		"erin operator -",
		"",
	}, "\n")
	path := writeTokens(t, t.TempDir(), "tokens.txt", content)
	a := mustNew(t, Config{File: path})
	if n, err := a.Reload(); err != nil || n != 4 {
		t.Errorf("Reload() = %d, %v; want 4 (tokens), nil", n, err)
	}
	tests := []struct {
		token string
		want  Caller
	}{
		{alice, Caller{Name: "alice", Role: Operator, Via: ViaToken}},
		{bob, Caller{Name: "bob", Role: Reader, Via: ViaToken}},
		{carol, Caller{Name: "carol", Role: Reader, Via: ViaToken}},
		{dave, Caller{Name: "dave", Role: Operator, Via: ViaToken}},
	}
	for _, tt := range tests {
		t.Run(tt.want.Name, func(t *testing.T) {
			t.Parallel()
			wantCaller(t, a, tt.token, true, nil, tt.want)
		})
	}
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		wantRefused(t, a, secret("commented-out"), true, nil, ErrUnknownToken)
		wantRefused(t, a, NoToken, true, nil, ErrUnknownToken) // erin has no token
		wantRefused(t, a, "", true, nil, ErrUnknownToken)
		wantRefused(t, a, secret("nobody"), true, nil, ErrUnknownToken)
		wantRefused(t, a, "", false, nil, ErrNoCredentials)
	})
}

func TestTokensFileEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty":         "",
		"comments only": "# nobody yet\n\n# still nobody\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeTokens(t, dir, strings.ReplaceAll(name, " ", "-"), content)
			a := mustNew(t, Config{File: path})
			if !a.Enabled() {
				t.Errorf("Enabled() = false with a tokens file, want true")
			}
			wantRefused(t, a, secret("x"), true, nil, ErrUnknownToken)
			wantRefused(t, a, "", false, nil, ErrNoCredentials)
		})
	}
}

// The env tokens and the file add up; one name may have several tokens if
// it keeps one role.
func TestTokensEnvAndFile(t *testing.T) {
	t.Parallel()
	tok, t1, alice1, alice2, tok2 := secret("env"), secret("env-1"), secret("alice-1"), secret("alice-2"), secret("token-from-file")
	path := writeTokens(t, t.TempDir(), "tokens", fmt.Sprintf(
		"alice reader %s\nalice reader %s\ntoken operator %s\n", alice1, alice2, tok2))
	a := mustNew(t, Config{Token: tok, Tokens: []string{t1}, File: path})
	if n, err := a.Reload(); err != nil || n != 5 {
		t.Errorf("Reload() = %d, %v; want 5, nil", n, err)
	}
	wantCaller(t, a, tok, true, nil, Caller{Name: "token", Role: Operator, Via: ViaToken})
	wantCaller(t, a, tok2, true, nil, Caller{Name: "token", Role: Operator, Via: ViaToken})
	wantCaller(t, a, t1, true, nil, Caller{Name: "token-1", Role: Operator, Via: ViaToken})
	wantCaller(t, a, alice1, true, nil, Caller{Name: "alice", Role: Reader, Via: ViaToken})
	wantCaller(t, a, alice2, true, nil, Caller{Name: "alice", Role: Reader, Via: ViaToken})
}

func TestMinTokenLength(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", MinTokenLength)
	short := strings.Repeat("s", MinTokenLength-1)
	t.Run("env at the limit", func(t *testing.T) {
		t.Parallel()
		a := mustNew(t, Config{Token: long})
		wantCaller(t, a, long, true, nil, Caller{Name: "token", Role: Operator, Via: ViaToken})
	})
	t.Run("file at the limit", func(t *testing.T) {
		t.Parallel()
		path := writeTokens(t, t.TempDir(), "tokens", "alice reader "+long+"\n")
		a := mustNew(t, Config{File: path})
		wantCaller(t, a, long, true, nil, Caller{Name: "alice", Role: Reader, Via: ViaToken})
	})
	t.Run("env one short", func(t *testing.T) {
		t.Parallel()
		_, err := New(Config{Token: short})
		if err == nil {
			t.Fatalf("New with a %d-character token: nil error, want one", len(short))
		}
		assertNoSecret(t, err, short)
	})
}

// TestNewErrors: every bad configuration is an error that says where, and
// never quotes a token.
func TestNewErrors(t *testing.T) {
	t.Parallel()
	a1, a2, b1, envTok, envT1, envT2 := secret("a1"), secret("a2"), secret("b1"), secret("env"), secret("env-1"), secret("env-2")
	const shortTok = "Qz7xW2pL"       // 8 characters
	const short15 = "Hk3Vn8Rt1Yc6Mw0" // MinTokenLength-1 characters
	if len(short15) != MinTokenLength-1 {
		t.Fatalf("short15 has %d characters, want %d", len(short15), MinTokenLength-1)
	}
	tests := []struct {
		name  string
		env   Config // Token and Tokens; File is set from file
		file  string // tokens file content; "" for no file
		want  []string
		where string // "FILE:N" is replaced by the file's path and line N
	}{
		{
			name:  "short token in file",
			file:  "# header\nalice operator " + shortTok + "\n",
			where: "FILE:2",
			want:  []string{"shorter than 16", `"alice"`},
		},
		{
			name:  "token one short of the limit in file",
			file:  "alice operator " + short15 + "\n",
			where: "FILE:1",
			want:  []string{"shorter than 16"},
		},
		{
			name:  "short GPUBMS_AUTH_TOKEN",
			env:   Config{Token: shortTok},
			where: "GPUBMS_AUTH_TOKEN",
			want:  []string{"shorter than 16", `"token"`},
		},
		{
			name:  "short GPUBMS_AUTH_TOKENS item",
			env:   Config{Tokens: []string{envT1, shortTok}},
			where: "GPUBMS_AUTH_TOKENS item 2",
			want:  []string{"shorter than 16", `"token-2"`},
		},
		{
			name:  "same token twice in file",
			file:  fmt.Sprintf("alice operator %s\n\nbob reader %s\n", a1, a1),
			where: "FILE:3",
			want:  []string{`"bob"`, "also given at", "FILE:1"},
		},
		{
			name:  "same token for one name twice in file",
			file:  fmt.Sprintf("alice operator %s\nalice operator %s\n", a1, a1),
			where: "FILE:2",
			want:  []string{"also given at", "FILE:1"},
		},
		{
			name:  "same token in GPUBMS_AUTH_TOKEN and file",
			env:   Config{Token: envTok},
			file:  fmt.Sprintf("alice operator %s\nbob reader %s\n", a1, envTok),
			where: "FILE:2",
			want:  []string{`"bob"`, "also given at GPUBMS_AUTH_TOKEN"},
		},
		{
			name:  "same token in GPUBMS_AUTH_TOKENS and file",
			env:   Config{Tokens: []string{envT1, envT2}},
			file:  fmt.Sprintf("alice operator %s\n", envT2),
			where: "FILE:1",
			want:  []string{"also given at GPUBMS_AUTH_TOKENS item 2"},
		},
		{
			name:  "same token in GPUBMS_AUTH_TOKEN and GPUBMS_AUTH_TOKENS",
			env:   Config{Token: envTok, Tokens: []string{envT1, envTok}},
			where: "GPUBMS_AUTH_TOKENS item 2",
			want:  []string{"also given at GPUBMS_AUTH_TOKEN"},
		},
		{
			name:  "same token twice in GPUBMS_AUTH_TOKENS",
			env:   Config{Tokens: []string{envT1, envT1}},
			where: "GPUBMS_AUTH_TOKENS item 2",
			want:  []string{"also given at GPUBMS_AUTH_TOKENS item 1"},
		},
		{
			name:  "same name two roles in file",
			file:  fmt.Sprintf("alice operator %s\nbob reader %s\nalice reader %s\n", a1, b1, a2),
			where: "FILE:3",
			want:  []string{`"alice"`, "reader here but operator at", "FILE:1"},
		},
		{
			name:  "same name two roles, certificate-only line",
			file:  fmt.Sprintf("alice operator %s\nalice reader -\n", a1),
			where: "FILE:2",
			want:  []string{`"alice"`, "reader here but operator"},
		},
		{
			name:  "env caller name with another role in file",
			env:   Config{Token: envTok},
			file:  fmt.Sprintf("token reader %s\n", a1),
			where: "FILE:1",
			want:  []string{`"token"`, "reader here but operator at GPUBMS_AUTH_TOKEN"},
		},
		{
			name:  "env list caller name with another role in file",
			env:   Config{Tokens: []string{envT1}},
			file:  "token-1 reader -\n",
			where: "FILE:1",
			want:  []string{`"token-1"`, "reader here but operator at GPUBMS_AUTH_TOKENS item 1"},
		},
		{
			name:  "two fields",
			file:  fmt.Sprintf("alice operator %s\nbob %s\n", a1, b1),
			where: "FILE:2",
			want:  []string{"want NAME ROLE TOKEN, got 2 fields"},
		},
		{
			name:  "two fields, no token",
			file:  "bob reader\n",
			where: "FILE:1",
			want:  []string{"got 2 fields"},
		},
		{
			name:  "one field",
			file:  "\n\n" + a1 + "\n",
			where: "FILE:3",
			want:  []string{"got 1 fields"},
		},
		{
			name:  "four fields",
			file:  fmt.Sprintf("alice operator %s %s\n", a1, a2),
			where: "FILE:1",
			want:  []string{"got 4 fields"},
		},
		{
			name:  "four fields, token split by a space",
			file:  fmt.Sprintf("alice operator %s %s\n", a1[:32], a1[32:]),
			where: "FILE:1",
			want:  []string{"got 4 fields"},
		},
		{
			name:  "unknown role",
			file:  fmt.Sprintf("alice admin %s\n", a1),
			where: "FILE:1",
			want:  []string{`"admin"`, "reader or operator"},
		},
		{
			name:  "role in capitals",
			file:  fmt.Sprintf("alice Operator %s\n", a1),
			where: "FILE:1",
			want:  []string{"reader or operator"},
		},
		{
			name:  "role none",
			file:  fmt.Sprintf("alice none %s\n", a1),
			where: "FILE:1",
			want:  []string{"reader or operator"},
		},
		{
			name:  "reserved name anonymous",
			file:  fmt.Sprintf("alice operator %s\nanonymous reader %s\n", a1, b1),
			where: "FILE:2",
			want:  []string{`"anonymous" is reserved`},
		},
		{
			name:  "reserved name lease",
			file:  fmt.Sprintf("alice operator %s\nlease operator %s\n", a1, b1),
			where: "FILE:2",
			want:  []string{`"lease" is reserved`},
		},
		{
			name:  "reserved name anonymous, certificate-only",
			file:  "anonymous operator -\n",
			where: "FILE:1",
			want:  []string{"reserved"},
		},
		{
			name:  "name with a control character",
			file:  fmt.Sprintf("ali\x01ce operator %s\n", a1),
			where: "FILE:1",
			want:  []string{"not printable", `\x01`},
		},
		{
			name:  "name with DEL",
			file:  fmt.Sprintf("alice\x7f operator %s\n", a1),
			where: "FILE:1",
			want:  []string{"not printable"},
		},
		{
			name:  "name with an escape sequence",
			file:  fmt.Sprintf("\x1b[31malice reader %s\n", a1),
			where: "FILE:1",
			want:  []string{"not printable"},
		},
		{
			name:  "name with a zero-width space",
			file:  fmt.Sprintf("ali\u200bce reader %s\n", a1),
			where: "FILE:1",
			want:  []string{"not printable"},
		},
		{
			name:  "name with a byte-order mark",
			file:  fmt.Sprintf("\ufeffalice reader %s\n", a1),
			where: "FILE:1",
			want:  []string{"not printable"},
		},
		{
			name:  "name longer than 128",
			file:  fmt.Sprintf("%s reader %s\n", strings.Repeat("n", 129), a1),
			where: "FILE:1",
			want:  []string{"longer than 128"},
		},
		{
			name:  "error after a good line is still at its line",
			file:  fmt.Sprintf("# c\nalice operator %s # ok\n\nbob reader %s\nbad\n", a1, b1),
			where: "FILE:5",
			want:  []string{"got 1 fields"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.env
			path := ""
			if tt.file != "" {
				path = writeTokens(t, t.TempDir(), "tokens.txt", tt.file)
				cfg.File = path
			}
			expand := func(s string) string { return strings.ReplaceAll(s, "FILE", path) }
			a, err := New(cfg)
			if err == nil {
				t.Fatalf("New = %v, nil error; want an error", a)
			}
			if a != nil {
				t.Errorf("New returned an Authenticator with error %v, want nil", err)
			}
			msg := err.Error()
			if w := expand(tt.where) + ":"; !strings.HasPrefix(msg, w) && !strings.Contains(msg, w+" ") {
				t.Errorf("error %q does not name %q", msg, w)
			}
			for _, w := range tt.want {
				if w = expand(w); !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			all := []string{a1, a2, b1, envTok, envT1, envT2, shortTok, short15, a1[:32], a1[32:]}
			all = append(all, cfg.Tokens...)
			all = append(all, cfg.Token)
			assertNoSecret(t, err, all...)
		})
	}
}

// A token written in the NAME or ROLE column by mistake must not be echoed
// by the error either: the package promises errors never contain a token.
//
// TestNewErrorsWithMisplacedToken: a token typed in the wrong column of a
// tokens file is not shown in the error (which reaches the log).
func TestNewErrorsWithMisplacedToken(t *testing.T) {
	t.Parallel()
	tok := secret("misplaced")
	tests := []struct {
		name string
		file string
	}{
		{"token in ROLE column", "alice " + tok + " operator\n"},
		{"token in NAME column", tok + " operator alice\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeTokens(t, t.TempDir(), "tokens.txt", tt.file)
			_, err := New(Config{File: path})
			if err == nil {
				t.Fatalf("New with %s: nil error, want one", tt.name)
			}
			if !strings.Contains(err.Error(), path+":1") {
				t.Errorf("error %q does not name %s:1", err, path)
			}
			if strings.Contains(err.Error(), tok) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestNewMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "no-such-tokens")
	a, err := New(Config{File: path})
	if err == nil {
		t.Fatalf("New with a missing tokens file = %v, nil error; want an error", a)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("New error = %v, want errors.Is fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file %s", err, path)
	}
	// A directory is no tokens file either.
	if _, err := New(Config{File: t.TempDir()}); err == nil {
		t.Errorf("New with a directory as tokens file: nil error, want one")
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	alice, bob, carol, env := secret("alice"), secret("bob"), secret("carol"), secret("env")
	path := writeTokens(t, t.TempDir(), "tokens", fmt.Sprintf(
		"alice operator %s\nbob reader %s\n", alice, bob))
	a := mustNew(t, Config{Token: env, File: path})
	wantCaller(t, a, alice, true, nil, Caller{Name: "alice", Role: Operator, Via: ViaToken})
	wantCaller(t, a, bob, true, nil, Caller{Name: "bob", Role: Reader, Via: ViaToken})
	wantRefused(t, a, carol, true, nil, ErrUnknownToken)

	// Remove bob, add carol.
	replaceTokens(t, path, fmt.Sprintf("alice operator %s\ncarol reader %s\n", alice, carol))
	if n, err := a.Reload(); err != nil || n != 3 {
		t.Fatalf("Reload() = %d, %v; want 3, nil", n, err)
	}
	wantCaller(t, a, alice, true, nil, Caller{Name: "alice", Role: Operator, Via: ViaToken})
	wantCaller(t, a, carol, true, nil, Caller{Name: "carol", Role: Reader, Via: ViaToken})
	wantCaller(t, a, env, true, nil, Caller{Name: "token", Role: Operator, Via: ViaToken})
	wantRefused(t, a, bob, true, nil, ErrUnknownToken)

	// A broken file: Reload fails and the set before stays.
	broken := fmt.Sprintf("alice operator %s\ncarol reader %s\nbob %s\n", alice, carol, bob)
	replaceTokens(t, path, broken)
	n, err := a.Reload()
	if err == nil {
		t.Fatalf("Reload of a broken file = %d, nil error; want an error", n)
	}
	if n != 0 {
		t.Errorf("Reload of a broken file = %d, want 0", n)
	}
	if !strings.Contains(err.Error(), path+":3") {
		t.Errorf("Reload error %q does not name %s:3", err, path)
	}
	assertNoSecret(t, err, alice, bob, carol, env)
	wantCaller(t, a, alice, true, nil, Caller{Name: "alice", Role: Operator, Via: ViaToken})
	wantCaller(t, a, carol, true, nil, Caller{Name: "carol", Role: Reader, Via: ViaToken})
	wantRefused(t, a, bob, true, nil, ErrUnknownToken)

	// A file that parses but clashes with the environment: the same.
	replaceTokens(t, path, fmt.Sprintf("bob operator %s\n", env))
	if _, err := a.Reload(); err == nil {
		t.Errorf("Reload of a file reusing GPUBMS_AUTH_TOKEN: nil error, want one")
	} else {
		assertNoSecret(t, err, env)
	}
	wantCaller(t, a, carol, true, nil, Caller{Name: "carol", Role: Reader, Via: ViaToken})
	wantRefused(t, a, bob, true, nil, ErrUnknownToken)

	// The file gone: the same.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reload(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Reload of a removed file: error %v, want fs.ErrNotExist", err)
	}
	wantCaller(t, a, alice, true, nil, Caller{Name: "alice", Role: Operator, Via: ViaToken})
	wantCaller(t, a, carol, true, nil, Caller{Name: "carol", Role: Reader, Via: ViaToken})

	// Fixed again: the new file wins, a role change included.
	replaceTokens(t, path, fmt.Sprintf("bob operator %s\nalice reader %s\n", bob, alice))
	if n, err := a.Reload(); err != nil || n != 3 {
		t.Fatalf("Reload() = %d, %v; want 3, nil", n, err)
	}
	wantCaller(t, a, bob, true, nil, Caller{Name: "bob", Role: Operator, Via: ViaToken})
	wantCaller(t, a, alice, true, nil, Caller{Name: "alice", Role: Reader, Via: ViaToken})
	wantRefused(t, a, carol, true, nil, ErrUnknownToken)

	// Emptied: only the environment's token remains.
	replaceTokens(t, path, "# nobody\n")
	if n, err := a.Reload(); err != nil || n != 1 {
		t.Fatalf("Reload() = %d, %v; want 1, nil", n, err)
	}
	wantRefused(t, a, alice, true, nil, ErrUnknownToken)
	wantCaller(t, a, env, true, nil, Caller{Name: "token", Role: Operator, Via: ViaToken})
}

func TestReloadWithoutFile(t *testing.T) {
	t.Parallel()
	tok := secret("x")
	a := mustNew(t, Config{Token: tok})
	for range 3 {
		if n, err := a.Reload(); err != nil || n != 1 {
			t.Fatalf("Reload() = %d, %v; want 1, nil", n, err)
		}
	}
	wantCaller(t, a, tok, true, nil, Caller{Name: "token", Role: Operator, Via: ViaToken})
}

// --- certificates ---

type certSpec struct {
	cn     string
	org    string
	dns    []string
	emails []string
	uris   []string
	ips    []string
}

// leafCert issues a client certificate from a test CA and verifies it, as a
// TLS server with that CA would have.
func leafCert(t *testing.T, s certSpec) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:        pkix.Name{CommonName: s.cn},
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:       s.dns,
		EmailAddresses: s.emails,
	}
	if s.org != "" {
		tmpl.Subject.Organization = []string{s.org}
	}
	for _, u := range s.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("url %q: %v", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	for _, ip := range s.ips {
		p := net.ParseIP(ip)
		if p == nil {
			t.Fatalf("bad IP %q", ip)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, p)
	}
	ca := tlstest.NewCA(t, "gpubms test CA")
	cert := ca.Issue(t, tmpl).Cert
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("Verify(%+v): %v", s, err)
	}
	return cert
}

func TestCertificateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec certSpec
		want string
	}{
		{"CN", certSpec{cn: "alice"}, "alice"},
		{"CN wins over SANs", certSpec{cn: "alice", dns: []string{"alice.example.com"}, emails: []string{"a@example.com"}, uris: []string{"spiffe://example.com/a"}, ips: []string{"10.0.0.1"}}, "alice"},
		{"CN with organization", certSpec{cn: "bob", org: "Example Corp"}, "bob"},
		{"DNS SAN, no CN", certSpec{dns: []string{"node-1.example.com"}}, "node-1.example.com"},
		{"first DNS SAN", certSpec{dns: []string{"b.example.com", "a.example.com"}}, "b.example.com"},
		{"DNS wins over email, URI, IP", certSpec{dns: []string{"d.example.com"}, emails: []string{"e@example.com"}, uris: []string{"spiffe://example.com/u"}, ips: []string{"10.0.0.2"}}, "d.example.com"},
		{"only email", certSpec{emails: []string{"ops@example.com"}}, "ops@example.com"},
		{"email wins over URI, IP", certSpec{emails: []string{"ops@example.com"}, uris: []string{"spiffe://example.com/u"}, ips: []string{"10.0.0.3"}}, "ops@example.com"},
		{"only URI", certSpec{uris: []string{"spiffe://example.com/ns/ops/sa/gpubms"}}, "spiffe://example.com/ns/ops/sa/gpubms"},
		{"URI wins over IP", certSpec{uris: []string{"urn:gpubms:ops"}, ips: []string{"10.0.0.4"}}, "urn:gpubms:ops"},
		{"only IPv4", certSpec{ips: []string{"10.0.0.7"}}, "10.0.0.7"},
		{"only IPv6", certSpec{ips: []string{"2001:db8::1"}}, "2001:db8::1"},
		{"organization only is no name", certSpec{org: "Example Corp"}, ""},
		{"nothing", certSpec{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cert := leafCert(t, tt.spec)
			if got := CertificateName(cert); got != tt.want {
				t.Errorf("CertificateName = %q, want %q", got, tt.want)
			}
			a := mustNew(t, Config{Certificates: true})
			got, err := a.Authenticate("", false, cert)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Authenticate(certificate without a name) = %+v, nil error; want an error", got)
				}
				if got != (Caller{}) {
					t.Errorf("Authenticate refused with caller %+v, want the zero Caller", got)
				}
				for _, e := range []error{ErrNoCredentials, ErrUnknownToken, ErrCertificate} {
					if errors.Is(err, e) {
						t.Errorf("Authenticate error %v is %v, want a certificate-name error", err, e)
					}
				}
				return
			}
			want := Caller{Name: tt.want, Role: Reader, Via: ViaCertificate}
			if err != nil || got != want {
				t.Errorf("Authenticate(certificate) = %+v, %v; want %+v, nil", got, err, want)
			}
		})
	}
}

func TestCertificateRoles(t *testing.T) {
	t.Parallel()
	aliceTok, daveTok, envTok := secret("alice"), secret("dave"), secret("env")
	path := writeTokens(t, t.TempDir(), "tokens", strings.Join([]string{
		"alice operator -",
		"carol reader -",
		"dave operator " + daveTok,
		"erin reader " + aliceTok,
		"node-1.example.com operator -",
		"spiffe://example.com/ops operator -",
		"",
	}, "\n"))
	certs := map[string]*x509.Certificate{
		"alice":  leafCert(t, certSpec{cn: "alice"}),
		"bob":    leafCert(t, certSpec{cn: "bob"}),
		"carol":  leafCert(t, certSpec{cn: "carol"}),
		"dave":   leafCert(t, certSpec{cn: "dave"}),
		"erin":   leafCert(t, certSpec{cn: "erin"}),
		"token":  leafCert(t, certSpec{cn: "token"}),
		"dns":    leafCert(t, certSpec{dns: []string{"node-1.example.com"}}),
		"uri":    leafCert(t, certSpec{uris: []string{"spiffe://example.com/ops"}}),
		"Alice":  leafCert(t, certSpec{cn: "Alice"}),
		"alice2": leafCert(t, certSpec{cn: "alice", org: "Other Org"}),
	}
	tests := []struct {
		name string
		cfg  Config
		cert string
		want Caller
	}{
		{"default role is reader", Config{Certificates: true}, "bob", Caller{Name: "bob", Role: Reader, Via: ViaCertificate}},
		{"explicit reader", Config{Certificates: true, CertificateRole: Reader}, "bob", Caller{Name: "bob", Role: Reader, Via: ViaCertificate}},
		{"operator by config", Config{Certificates: true, CertificateRole: Operator}, "bob", Caller{Name: "bob", Role: Operator, Via: ViaCertificate}},
		{"file raises to operator", Config{Certificates: true, File: path}, "alice", Caller{Name: "alice", Role: Operator, Via: ViaCertificate}},
		{"file lowers to reader", Config{Certificates: true, CertificateRole: Operator, File: path}, "carol", Caller{Name: "carol", Role: Reader, Via: ViaCertificate}},
		{"name not in file gets default", Config{Certificates: true, File: path}, "bob", Caller{Name: "bob", Role: Reader, Via: ViaCertificate}},
		{"name not in file gets configured role", Config{Certificates: true, CertificateRole: Operator, File: path}, "bob", Caller{Name: "bob", Role: Operator, Via: ViaCertificate}},
		{"names are case-sensitive", Config{Certificates: true, File: path}, "Alice", Caller{Name: "Alice", Role: Reader, Via: ViaCertificate}},
		{"organization does not matter", Config{Certificates: true, File: path}, "alice2", Caller{Name: "alice", Role: Operator, Via: ViaCertificate}},
		{"DNS SAN name in file", Config{Certificates: true, File: path}, "dns", Caller{Name: "node-1.example.com", Role: Operator, Via: ViaCertificate}},
		{"URI SAN name in file", Config{Certificates: true, File: path}, "uri", Caller{Name: "spiffe://example.com/ops", Role: Operator, Via: ViaCertificate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := mustNew(t, tt.cfg)
			wantCaller(t, a, "", false, certs[tt.cert], tt.want)
		})
	}

	// A certificate authority cannot mint a token caller: a certificate
	// named like one (a tokens-file line with a token, or a bare token's
	// name) is refused, whatever the configured default role.
	for _, tc := range []struct {
		name string
		cfg  Config
		cert string
	}{
		{"named like a file token caller", Config{Certificates: true, File: path}, "dave"},
		{"named like a file token caller, operator default", Config{Certificates: true, CertificateRole: Operator, File: path}, "erin"},
		{"named like GPUBMS_AUTH_TOKEN's caller", Config{Certificates: true, Token: envTok}, "token"},
		{"named like a bare token's caller without one", Config{Certificates: true}, "token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := mustNew(t, tc.cfg)
			c, err := a.Authenticate("", false, certs[tc.cert])
			if err == nil || !strings.Contains(err.Error(), "named like a token caller") {
				t.Errorf("Authenticate(certificate %q) = %+v, %v; want a refusal", tc.cert, c, err)
			}
		})
	}

	t.Run("certificate-only line gives no token", func(t *testing.T) {
		t.Parallel()
		a := mustNew(t, Config{Certificates: true, File: path})
		wantRefused(t, a, NoToken, true, nil, ErrUnknownToken)
		wantRefused(t, a, "", true, nil, ErrUnknownToken)
		wantCaller(t, a, daveTok, true, nil, Caller{Name: "dave", Role: Operator, Via: ViaToken})
		wantCaller(t, a, aliceTok, true, nil, Caller{Name: "erin", Role: Reader, Via: ViaToken})
		if n, err := a.Reload(); err != nil || n != 2 {
			t.Errorf("Reload() = %d, %v; want 2 (tokens), nil", n, err)
		}
	})
}

func TestCertificateRoleReload(t *testing.T) {
	t.Parallel()
	path := writeTokens(t, t.TempDir(), "tokens", "# none yet\n")
	a := mustNew(t, Config{Certificates: true, File: path})
	cert := leafCert(t, certSpec{cn: "frank"})
	wantCaller(t, a, "", false, cert, Caller{Name: "frank", Role: Reader, Via: ViaCertificate})
	replaceTokens(t, path, "frank operator -\n")
	if _, err := a.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	wantCaller(t, a, "", false, cert, Caller{Name: "frank", Role: Operator, Via: ViaCertificate})
	replaceTokens(t, path, "frank operator -\nfrank reader -\n")
	if _, err := a.Reload(); err == nil {
		t.Fatalf("Reload of a file with two roles for frank: nil error, want one")
	}
	wantCaller(t, a, "", false, cert, Caller{Name: "frank", Role: Operator, Via: ViaCertificate})
	replaceTokens(t, path, "\n")
	if _, err := a.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	wantCaller(t, a, "", false, cert, Caller{Name: "frank", Role: Reader, Via: ViaCertificate})
}

func TestTokenAndCertificate(t *testing.T) {
	t.Parallel()
	alice, env := secret("alice"), secret("env")
	path := writeTokens(t, t.TempDir(), "tokens", "alice reader "+alice+"\nbob operator -\n")
	bobCert := leafCert(t, certSpec{cn: "bob"})
	noName := leafCert(t, certSpec{})

	on := mustNew(t, Config{Token: env, File: path, Certificates: true})
	t.Run("token wins over certificate", func(t *testing.T) {
		t.Parallel()
		wantCaller(t, on, alice, true, bobCert, Caller{Name: "alice", Role: Reader, Via: ViaToken})
		wantCaller(t, on, env, true, bobCert, Caller{Name: "token", Role: Operator, Via: ViaToken})
		wantCaller(t, on, alice, true, noName, Caller{Name: "alice", Role: Reader, Via: ViaToken})
	})
	t.Run("wrong token with a good certificate is refused", func(t *testing.T) {
		t.Parallel()
		wantRefused(t, on, secret("wrong"), true, bobCert, ErrUnknownToken)
		wantRefused(t, on, "", true, bobCert, ErrUnknownToken)
	})
	t.Run("certificate alone", func(t *testing.T) {
		t.Parallel()
		wantCaller(t, on, "", false, bobCert, Caller{Name: "bob", Role: Operator, Via: ViaCertificate})
		// hasToken=false: the token text is ignored.
		wantCaller(t, on, secret("ignored"), false, bobCert, Caller{Name: "bob", Role: Operator, Via: ViaCertificate})
	})
	t.Run("nothing", func(t *testing.T) {
		t.Parallel()
		wantRefused(t, on, "", false, nil, ErrNoCredentials)
	})

	tests := []struct {
		name string
		cfg  Config
	}{
		{"env token", Config{Token: env}},
		{"env tokens", Config{Tokens: []string{env}}},
		{"file", Config{File: path}},
		{"file and certificate role", Config{File: path, CertificateRole: Operator}},
	}
	for _, tt := range tests {
		t.Run("certificates off, "+tt.name, func(t *testing.T) {
			t.Parallel()
			a := mustNew(t, tt.cfg)
			wantRefused(t, a, "", false, bobCert, ErrCertificate)
			wantRefused(t, a, "", false, noName, ErrCertificate)
			wantRefused(t, a, "", false, nil, ErrNoCredentials)
			wantRefused(t, a, secret("wrong"), true, bobCert, ErrUnknownToken)
		})
	}
	t.Run("certificates off, token still works with a certificate", func(t *testing.T) {
		t.Parallel()
		a := mustNew(t, Config{File: path})
		wantCaller(t, a, alice, true, bobCert, Caller{Name: "alice", Role: Reader, Via: ViaToken})
	})
}

// The documented errors are safe to show a caller: none quotes a token.
func TestErrorTexts(t *testing.T) {
	t.Parallel()
	for _, e := range []error{ErrNoCredentials, ErrUnknownToken, ErrCertificate} {
		if e.Error() == "" {
			t.Errorf("error %#v has no text", e)
		}
	}
	if errors.Is(ErrNoCredentials, ErrUnknownToken) || errors.Is(ErrUnknownToken, ErrCertificate) || errors.Is(ErrCertificate, ErrNoCredentials) {
		t.Errorf("the documented errors are not distinct")
	}
}

// TestConcurrentReload authenticates from many goroutines while Reload swaps
// the tokens file between two valid versions. Run under -race.
func TestConcurrentReload(t *testing.T) {
	t.Parallel()
	alice, bob, carol, env := secret("alice"), secret("bob"), secret("carol"), secret("env")
	v1 := fmt.Sprintf("alice operator %s\nbob reader %s\ndave reader -\n", alice, bob)
	v2 := fmt.Sprintf("alice operator %s\ncarol reader %s\ndave operator -\n", alice, carol)
	path := writeTokens(t, t.TempDir(), "tokens", v1)
	a := mustNew(t, Config{Token: env, File: path, Certificates: true})
	dave := leafCert(t, certSpec{cn: "dave"})
	noName := leafCert(t, certSpec{})

	type req struct {
		token    string
		hasToken bool
		cert     *x509.Certificate
		// ok reports whether a result is one the documentation allows.
		ok func(Caller, error) bool
	}
	is := func(want Caller) func(Caller, error) bool {
		return func(c Caller, err error) bool { return err == nil && c == want }
	}
	either := func(want Caller, wantErr error) func(Caller, error) bool {
		return func(c Caller, err error) bool {
			return (err == nil && c == want) || (errors.Is(err, wantErr) && c == Caller{})
		}
	}
	refused := func(wantErr error) func(Caller, error) bool {
		return func(c Caller, err error) bool { return errors.Is(err, wantErr) && c == Caller{} }
	}
	reqs := []req{
		{alice, true, nil, is(Caller{Name: "alice", Role: Operator, Via: ViaToken})},
		{env, true, dave, is(Caller{Name: "token", Role: Operator, Via: ViaToken})},
		{bob, true, nil, either(Caller{Name: "bob", Role: Reader, Via: ViaToken}, ErrUnknownToken)},
		{carol, true, nil, either(Caller{Name: "carol", Role: Reader, Via: ViaToken}, ErrUnknownToken)},
		{secret("wrong"), true, dave, refused(ErrUnknownToken)},
		{"", false, nil, refused(ErrNoCredentials)},
		{"", false, dave, func(c Caller, err error) bool {
			return err == nil && c.Name == "dave" && c.Via == ViaCertificate && (c.Role == Reader || c.Role == Operator)
		}},
		{"", false, noName, func(c Caller, err error) bool { return err != nil && c == Caller{} }},
	}

	const reloads = 200
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	report := func(s string) {
		select {
		case errs <- s:
		default:
		}
	}
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				r := reqs[(g+i)%len(reqs)]
				c, err := a.Authenticate(r.token, r.hasToken, r.cert)
				if !r.ok(c, err) {
					report(fmt.Sprintf("request %d: Authenticate = %+v, %v; not a documented result", (g+i)%len(reqs), c, err))
				}
				if err != nil && r.token != "" && strings.Contains(err.Error(), r.token) {
					report(fmt.Sprintf("error %q contains the token", err))
				}
			}
		})
	}
	// Readers of Enabled race with nothing, but call it anyway.
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if !a.Enabled() {
				report("Enabled() = false during reloads")
			}
		}
	})

	var reloadErr error
	for i := range reloads {
		content := v1
		if i%2 == 1 {
			content = v2
		}
		replaceTokens(t, path, content)
		if _, err := a.Reload(); err != nil && reloadErr == nil {
			reloadErr = fmt.Errorf("reload %d: %w", i, err)
		}
		// Concurrent Reloads are serialised; run one from another goroutine
		// now and then.
		if i%10 == 0 {
			wg.Go(func() {
				if _, err := a.Reload(); err != nil {
					report(fmt.Sprintf("concurrent Reload: %v", err))
				}
			})
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	if reloadErr != nil {
		t.Errorf("Reload of a valid file: %v", reloadErr)
	}
	for s := range errs {
		t.Error(s)
	}

	// After the last reload (v2), the file's set is in force.
	if _, err := a.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	wantCaller(t, a, carol, true, nil, Caller{Name: "carol", Role: Reader, Via: ViaToken})
	wantRefused(t, a, bob, true, nil, ErrUnknownToken)
	wantCaller(t, a, "", false, dave, Caller{Name: "dave", Role: Operator, Via: ViaCertificate})
}

// TestNamesAreASCII: a caller name travels in gRPC metadata, which carries
// ASCII only: a tokens-file name or a certificate subject that is not
// printable ASCII is refused.
func TestNamesAreASCII(t *testing.T) {
	t.Parallel()
	path := writeTokens(t, t.TempDir(), "tokens", "José reader "+secret("jose")+"\n")
	if _, err := New(Config{File: path}); err == nil || !strings.Contains(err.Error(), "printable ASCII") {
		t.Errorf("New with a non-ASCII name: %v, want an error", err)
	}
	a := mustNew(t, Config{Certificates: true})
	for _, cn := range []string{"José", "tab\there", strings.Repeat("x", 129), Anonymous} {
		if c, err := a.Authenticate("", false, leafCert(t, certSpec{cn: cn})); err == nil {
			t.Errorf("certificate named %q: got caller %+v, want a refusal", cn, c)
		}
	}
}
