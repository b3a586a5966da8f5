package h2test

import (
	"bytes"
	"net"
	"testing"

	"golang.org/x/net/http2"
)

func TestParse(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&b, nil)
	steps := []error{
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}),
		fr.WriteSettingsAck(),
		fr.WriteWindowUpdate(0, 1000),
		fr.WriteWindowUpdate(1, 50), // a stream's: not the connection's
		fr.WriteWindowUpdate(0, 24),
		fr.WritePing(false, [8]byte{1}),
		fr.WritePing(true, [8]byte{2}),
		fr.WriteData(1, true, []byte("x")),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	b.Write([]byte{0, 0, 8}) // a frame cut short by the close

	got, err := Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := Frames{Count: 8, Pings: 1, Settings: true, InitialWindowSize: 1 << 20, ConnWindowIncrement: 1024}
	if got != want {
		t.Errorf("Parse = %+v; want %+v", got, want)
	}

	if _, err := Parse([]byte("not HTTP/2 frames at all, too long to be cut short")); err == nil {
		t.Error("Parse of garbage: no error")
	}
}

func TestRecorder(t *testing.T) {
	a, b := net.Pipe()
	var r Recorder
	rec := r.Conn(a)
	go func() {
		buf := make([]byte, 5)
		n, _ := b.Read(buf)
		b.Write(append([]byte("got "), buf[:n]...))
		b.Close()
	}()
	if _, err := rec.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, _ := rec.Read(buf)
	if string(r.Written()) != "hello" || string(r.Read()) != string(buf[:n]) || string(buf[:n]) != "got hello" {
		t.Errorf("written %q, read %q (the conn read %q)", r.Written(), r.Read(), buf[:n])
	}
}
