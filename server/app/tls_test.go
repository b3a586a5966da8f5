package app

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/gpubms/gpubms/server/tlstest"
)

// served is the serial number of the certificate f serves at a handshake.
func served(t *testing.T, f *tlsFiles) string {
	t.Helper()
	c, err := f.config("h2").GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Certificates[0].Leaf.SerialNumber.String()
}

// TestTLSFilesReload: a reload takes new files at once; without one, a
// change is seen at the first handshake after certCheckInterval; a file
// that does not load leaves the last good certificate in use.
func TestTLSFilesReload(t *testing.T) {
	ca := tlstest.NewCA(t, "app test CA")
	dir := t.TempDir()
	write := func(c tlstest.Cert) {
		tlstest.WriteFile(t, dir, "key", c.KeyPEM)
		tlstest.WriteFile(t, dir, "crt", c.CertPEM)
	}
	first := ca.Server(t)
	write(first)
	var reloads []error
	f, err := newTLSFiles(dir+"/crt", dir+"/key", "", false, func(err error) { reloads = append(reloads, err) })
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, f); got != first.Cert.SerialNumber.String() {
		t.Fatalf("serves %s, want %s", got, first.Cert.SerialNumber)
	}

	second := ca.Server(t)
	write(second)
	// Within certCheckInterval of the last look, a handshake does not look
	// again: only a reload takes the change.
	if got := served(t, f); got != first.Cert.SerialNumber.String() {
		t.Fatalf("right after the change, serves %s; want still %s (the files are looked at once a second)", got, first.Cert.SerialNumber)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(t, f); got != second.Cert.SerialNumber.String() {
		t.Errorf("after Reload, serves %s, want %s", got, second.Cert.SerialNumber)
	}

	// Without a reload, the next look finds the change.
	third := ca.Server(t)
	write(third)
	f.lastCheck.Store(0) // as if certCheckInterval had passed
	if got := served(t, f); got != third.Cert.SerialNumber.String() {
		t.Errorf("after the check interval, serves %s, want %s", got, third.Cert.SerialNumber)
	}
	if len(reloads) != 1 || reloads[0] != nil {
		t.Errorf("onReload calls: %v, want one success", reloads)
	}

	tlstest.WriteFile(t, dir, "crt", []byte("not a certificate"))
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), "tls: load certificate") {
		t.Errorf("Reload of a broken file = %v, want an error", err)
	}
	f.lastCheck.Store(0)
	if got := served(t, f); got != third.Cert.SerialNumber.String() {
		t.Errorf("after a broken file, serves %s, want the last good %s", got, third.Cert.SerialNumber)
	}
	if len(reloads) != 2 || reloads[1] == nil {
		t.Errorf("onReload calls: %v, want a success then an error", reloads)
	}
}
