package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// MinTokenLength is the shortest bearer token accepted in the
// configuration. Tokens should be random: `openssl rand -base64 32`.
const MinTokenLength = 16

// NoToken in the TOKEN column of a tokens file gives a role to the client
// certificates of NAME without giving NAME a token.
const NoToken = "-"

// Errors of authentication. Their text is safe to show a caller.
var (
	ErrNoCredentials = errors.New("caller authentication required: send authorization: Bearer TOKEN, or a client certificate")
	ErrUnknownToken  = errors.New("unknown bearer token")
	ErrCertificate   = errors.New("client certificates are not accepted by this server")
)

// Config says where an Authenticator's callers come from. All sources add
// up.
type Config struct {
	// Token is one operator named "token" (GPUBMS_AUTH_TOKEN).
	Token string
	// Tokens are operators named "token-1", "token-2", ...
	// (GPUBMS_AUTH_TOKENS).
	Tokens []string
	// File is a tokens file (GPUBMS_AUTH_TOKENS_FILE): one caller a line,
	// "NAME ROLE TOKEN", blank lines and '#' comments (to the end of the
	// line, anywhere in it: a token cannot hold '#') ignored. A TOKEN of
	// "-" gives NAME's client certificates their role. NAME is 1 to 128
	// printable ASCII characters.
	File string
	// Certificates makes verified client certificates callers, named by
	// their subject (CN, else the first SAN), with the role of the tokens
	// file's "NAME ROLE -" line for that name, else CertificateRole. A
	// certificate named like a token caller, without such a line, is
	// refused: a certificate authority cannot mint a token caller.
	Certificates    bool
	CertificateRole Role
}

// Enabled reports whether callers must authenticate: any source is set.
func (c Config) Enabled() bool {
	return c.Token != "" || len(c.Tokens) > 0 || c.File != "" || c.Certificates
}

// entry is one configured caller.
type entry struct {
	name  string
	role  Role
	token string // "" for a certificate-only entry
	from  string // where it was configured, for errors: "GPUBMS_AUTH_TOKENS item 2", "tokens.txt:7"
}

// callers is one immutable set of known callers.
type callers struct {
	byToken map[[sha256.Size]byte]Caller
	roles   map[string]Role // by name, from the tokens file's "NAME ROLE -" lines: the roles of certificates
	tokened map[string]bool // names of token callers
}

// Authenticator recognises callers. It is safe for concurrent use; Reload
// swaps the whole set at once, so a call sees either the old or the new set.
type Authenticator struct {
	cfg    Config
	static []entry // from Token and Tokens, which never change

	mu  sync.Mutex // serialises Reload
	cur atomic.Pointer[callers]
}

// New reads the configured callers. A bad tokens file, a token shorter than
// MinTokenLength, or one token given to two callers is an error naming the
// line, never the token.
func New(cfg Config) (*Authenticator, error) {
	if cfg.CertificateRole == RoleNone {
		cfg.CertificateRole = Reader
	}
	a := &Authenticator{cfg: cfg}
	if cfg.Token != "" {
		a.static = append(a.static, entry{name: "token", role: Operator, token: cfg.Token, from: "GPUBMS_AUTH_TOKEN"})
	}
	for i, tok := range cfg.Tokens {
		n := strconv.Itoa(i + 1)
		if tok == "" {
			return nil, fmt.Errorf("GPUBMS_AUTH_TOKENS item %s is empty", n)
		}
		a.static = append(a.static, entry{name: "token-" + n, role: Operator, token: tok, from: "GPUBMS_AUTH_TOKENS item " + n})
	}
	if _, err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Enabled reports whether callers must authenticate.
func (a *Authenticator) Enabled() bool { return a.cfg.Enabled() }

// Reload re-reads the tokens file and returns how many tokens are known.
// On error the callers known before stay in force.
func (a *Authenticator) Reload() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	es := append([]entry(nil), a.static...)
	if a.cfg.File != "" {
		fe, err := readTokensFile(a.cfg.File)
		if err != nil {
			return 0, err
		}
		es = append(es, fe...)
	}
	cs, err := build(es)
	if err != nil {
		return 0, err
	}
	a.cur.Store(cs)
	return len(cs.byToken), nil
}

func build(es []entry) (*callers, error) {
	cs := &callers{byToken: map[[sha256.Size]byte]Caller{}, roles: map[string]Role{}, tokened: map[string]bool{}}
	names := map[string]entry{}
	fromOf := map[[sha256.Size]byte]string{}
	for _, e := range es {
		if prev, ok := names[e.name]; ok && prev.role != e.role {
			return nil, fmt.Errorf("%s: %s is %s here but %s at %s", e.from, shown("caller", e.name), e.role, prev.role, prev.from)
		}
		names[e.name] = e
		if e.token == "" {
			cs.roles[e.name] = e.role
			continue
		}
		cs.tokened[e.name] = true
		if len(e.token) < MinTokenLength {
			return nil, fmt.Errorf("%s: the token of %s is shorter than %d characters", e.from, shown("caller", e.name), MinTokenLength)
		}
		h := sha256.Sum256([]byte(e.token))
		if prev, ok := fromOf[h]; ok {
			return nil, fmt.Errorf("%s: the token of %s is also given at %s", e.from, shown("caller", e.name), prev)
		}
		fromOf[h] = e.from
		cs.byToken[h] = Caller{Name: e.name, Role: e.role, Via: ViaToken}
	}
	return cs, nil
}

func readTokensFile(path string) ([]entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer f.Close()
	return parseTokens(f, path)
}

// parseTokens reads "NAME ROLE TOKEN" lines.
func parseTokens(r io.Reader, path string) ([]entry, error) {
	var es []entry
	sc := bufio.NewScanner(r)
	n := 1
	for ; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		at := fmt.Sprintf("%s:%d", path, n)
		if len(fs) != 3 {
			return nil, fmt.Errorf("%s: want NAME ROLE TOKEN, got %d fields", at, len(fs))
		}
		name, roleText, tok := fs[0], fs[1], fs[2]
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		role, err := ParseRole(roleText)
		if err != nil {
			return nil, fmt.Errorf("%s: %s is not reader or operator", at, shown("role", roleText))
		}
		if tok == NoToken {
			tok = ""
		}
		es = append(es, entry{name: name, role: role, token: tok, from: at})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, n, err)
	}
	return es, nil
}

// shown names a field of a tokens file line in an error. A value as long
// as a token may be a token typed in the wrong column, so it is not shown:
// the line number says where to look.
func shown(what, value string) string {
	if utf8.RuneCountInString(value) < MinTokenLength {
		return fmt.Sprintf("%s %q", what, value)
	}
	return "the " + what + " (not shown: it is as long as a token)"
}

// checkName accepts 1 to 128 printable ASCII characters, not Anonymous or
// Lease (the server's own names): a name travels in gRPC metadata and log
// lines.
func checkName(name string) error {
	if name == "" {
		return errors.New("caller name is empty")
	}
	if len(name) > 128 {
		return errors.New("caller name longer than 128 characters")
	}
	if name == Anonymous || name == Lease {
		return fmt.Errorf("caller name %q is reserved", name)
	}
	for i := range len(name) {
		if c := name[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%s has a character that is not printable ASCII", shown("caller name", name))
		}
	}
	return nil
}

// Authenticate recognises a caller from a bearer token (when hasToken) or a
// verified client certificate (cert, nil for none). A token wins over a
// certificate; a wrong token is refused even with a good certificate, so a
// mistake is never hidden. With authentication off, every caller is
// Anonymous with the Operator role.
func (a *Authenticator) Authenticate(token string, hasToken bool, cert *x509.Certificate) (Caller, error) {
	if !a.Enabled() {
		return Caller{Name: Anonymous, Role: Operator, Via: ViaNone}, nil
	}
	cs := a.cur.Load()
	if hasToken {
		if c, ok := cs.byToken[sha256.Sum256([]byte(token))]; ok {
			return c, nil
		}
		return Caller{}, ErrUnknownToken
	}
	if cert != nil {
		if !a.cfg.Certificates {
			return Caller{}, ErrCertificate
		}
		name := CertificateName(cert)
		if name == "" {
			return Caller{}, errors.New("client certificate names no subject (no CN, no SAN)")
		}
		if err := checkName(name); err != nil {
			return Caller{}, fmt.Errorf("client certificate: %w", err)
		}
		role, ok := cs.roles[name]
		if !ok {
			if cs.tokened[name] || isBareName(name) {
				return Caller{}, fmt.Errorf("client certificate %q is named like a token caller; a tokens file line %q lets it in", name, name+" ROLE -")
			}
			role = a.cfg.CertificateRole
		}
		return Caller{Name: name, Role: role, Via: ViaCertificate}, nil
	}
	return Caller{}, ErrNoCredentials
}

// isBareName reports whether name is one of the names of bare tokens:
// "token", "token-N".
func isBareName(name string) bool {
	if name == "token" {
		return true
	}
	n, ok := strings.CutPrefix(name, "token-")
	if !ok || n == "" {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// CertificateName is the caller name of a client certificate: its subject's
// common name, else its first subject alternative name (DNS name, email
// address, URI, IP address, in that order).
func CertificateName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	case len(c.EmailAddresses) > 0:
		return c.EmailAddresses[0]
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.IPAddresses) > 0:
		return c.IPAddresses[0].String()
	}
	return ""
}
