package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certCheckInterval is how often, at most, a handshake looks whether the
// certificate files changed.
const certCheckInterval = time.Second

// tlsFiles serves the server's certificate (and, for mTLS, the client CA)
// from files, re-read when they change or on Reload, so certificates rotate
// without a restart. A file that does not load keeps the last good
// configuration in force. It is safe for concurrent use.
type tlsFiles struct {
	cert, key, clientCA string
	requireClientCert   bool // no token can stand in for a certificate

	cur       atomic.Pointer[tlsState]
	lastCheck atomic.Int64 // unix nanoseconds of the last look at the files
	mu        sync.Mutex   // serialises loads
	onReload  func(err error)
}

type tlsState struct {
	cert  *tls.Certificate
	pool  *x509.CertPool
	stamp string // the files' sizes and modification times
}

func newTLSFiles(cert, key, clientCA string, requireClientCert bool, onReload func(error)) (*tlsFiles, error) {
	f := &tlsFiles{cert: cert, key: key, clientCA: clientCA, requireClientCert: requireClientCert, onReload: onReload}
	if _, err := f.load(true); err != nil {
		return nil, err
	}
	return f, nil
}

// stamp describes the files as they are now.
func (f *tlsFiles) stamp() string {
	var s string
	for _, p := range []string{f.cert, f.key, f.clientCA} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return s
}

// load reads the files if force or if they changed since the last load, and
// reports whether it loaded.
func (f *tlsFiles) load(force bool) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	stamp := f.stamp()
	if old := f.cur.Load(); !force && old != nil && old.stamp == stamp {
		return false, nil
	}
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return false, fmt.Errorf("tls: load certificate: %w", err)
	}
	st := &tlsState{cert: &cert, stamp: stamp}
	if f.clientCA != "" {
		pem, err := os.ReadFile(f.clientCA)
		if err != nil {
			return false, fmt.Errorf("tls: client CA: %w", err)
		}
		st.pool = x509.NewCertPool()
		if !st.pool.AppendCertsFromPEM(pem) {
			return false, errors.New("tls: client CA: no PEM certificate in " + f.clientCA)
		}
	}
	f.cur.Store(st)
	return true, nil
}

// Reload re-reads the files now; on error the last good ones stay.
func (f *tlsFiles) Reload() error {
	_, err := f.load(true)
	return err
}

// maybeReload looks at the files at most once per certCheckInterval.
func (f *tlsFiles) maybeReload() {
	now := time.Now().UnixNano()
	last := f.lastCheck.Load()
	if now-last < int64(certCheckInterval) || !f.lastCheck.CompareAndSwap(last, now) {
		return
	}
	loaded, err := f.load(false)
	if (loaded || err != nil) && f.onReload != nil {
		f.onReload(err)
	}
}

// config returns a server TLS configuration offering nextProtos, whose
// certificate and client CA are the files' current ones at each handshake.
func (f *tlsFiles) config(nextProtos ...string) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: nextProtos}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		f.maybeReload()
		st := f.cur.Load()
		c := &tls.Config{
			MinVersion:   tls.VersionTLS12,
			NextProtos:   nextProtos,
			Certificates: []tls.Certificate{*st.cert},
		}
		if st.pool != nil {
			c.ClientCAs = st.pool
			c.ClientAuth = tls.VerifyClientCertIfGiven
			if f.requireClientCert {
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}
		}
		return c, nil
	}
	return base
}
