package gpubms

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsFiles are the PEM files named by WithTLSFiles.
type tlsFiles struct {
	ca, cert, key string
}

// WithTLSFiles dials with TLS configured from PEM files, for the common cases
// that need no hand-built tls.Config:
//
//   - caFile holds the CA certificates that verify the server, in place of
//     the system's root certificates ("" keeps the system roots);
//   - certFile and keyFile hold a client certificate and its private key, for
//     servers that authenticate callers by certificate (mTLS). They go
//     together: both or neither ("" and "" send no certificate).
//
// Dial reads the files once; a certificate without its key (or a key without
// its certificate), a file that cannot be read, a CA file with no PEM
// certificate and a certificate that does not match its key are errors at
// Dial that name the file. To pick up renewed files, Dial again (or give
// WithTLSConfig a tls.Config whose GetClientCertificate re-reads them).
//
// WithTLSFiles conflicts with WithInsecure and with WithTLSConfig; combine it
// with WithServerName to connect by IP address to a server whose certificate
// is issued for a name. Called more than once, the last call wins.
func WithTLSFiles(caFile, certFile, keyFile string) Option {
	return func(o *options) { o.tlsFiles = &tlsFiles{ca: caFile, cert: certFile, key: keyFile} }
}

// WithServerName sets the name the server's certificate is verified against
// (and sent as TLS SNI). Without it, the name is the host of Dial's target,
// which fails when connecting by IP address, or through a tunnel or load
// balancer address, to a server whose certificate is issued for a name. As
// gRPC does with a TLS server name, it is also the requests' :authority (so a
// different grpc.WithAuthority in WithDialOptions fails Dial). It applies to
// the default system-roots TLS, to WithTLSFiles and to WithTLSConfig
// (replacing the config's ServerName in Dial's copy; cfg itself is left
// alone). It conflicts with WithInsecure; an empty name is an error at Dial.
func WithServerName(name string) Option { return func(o *options) { o.serverName = &name } }

// checkTLS reports the TLS option combinations Dial refuses.
func (o *options) checkTLS() error {
	if o.insecure {
		switch {
		case o.tlsConfig != nil:
			return errors.New("gpubms: dial: WithInsecure and WithTLSConfig conflict")
		case o.tlsFiles != nil:
			return errors.New("gpubms: dial: WithInsecure and WithTLSFiles conflict")
		case o.serverName != nil:
			return errors.New("gpubms: dial: WithInsecure and WithServerName conflict")
		}
	}
	if o.tlsConfig != nil && o.tlsFiles != nil {
		return errors.New("gpubms: dial: WithTLSConfig and WithTLSFiles conflict (put the files in the tls.Config, or drop it)")
	}
	if o.serverName != nil && *o.serverName == "" {
		return errors.New("gpubms: dial: WithServerName with an empty name")
	}
	return nil
}

// clientTLSConfig is the TLS configuration the options ask for; nil means
// credentials.NewTLS's defaults (TLS 1.2+, the system roots).
func (o *options) clientTLSConfig() (*tls.Config, error) {
	var cfg *tls.Config
	switch {
	case o.tlsConfig != nil:
		cfg = o.tlsConfig.Clone()
	case o.tlsFiles != nil:
		var err error
		if cfg, err = o.tlsFiles.config(); err != nil {
			return nil, err
		}
	}
	if o.serverName != nil {
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg.ServerName = *o.serverName
	}
	return cfg, nil
}

// config loads the files into a client TLS configuration.
func (f *tlsFiles) config() (*tls.Config, error) {
	if (f.cert == "") != (f.key == "") {
		missing, given := "keyFile", "certFile "+f.cert
		if f.cert == "" {
			missing, given = "certFile", "keyFile "+f.key
		}
		return nil, fmt.Errorf("gpubms: dial: WithTLSFiles: %s without %s: a client certificate needs both", given, missing)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("gpubms: dial: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("gpubms: dial: CA file %s holds no PEM certificate", f.ca)
		}
		cfg.RootCAs = pool
	}
	if f.cert != "" {
		certPEM, err := os.ReadFile(f.cert)
		if err != nil {
			return nil, fmt.Errorf("gpubms: dial: read client certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(f.key)
		if err != nil {
			return nil, fmt.Errorf("gpubms: dial: read client key: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// The error describes the PEM, never the key's bytes.
			return nil, fmt.Errorf("gpubms: dial: client certificate %s with key %s: %w", f.cert, f.key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
