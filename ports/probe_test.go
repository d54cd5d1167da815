package ports

import (
	"net"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// A host can stand for several addresses (localhost: 127.0.0.1 and ::1).
// The port is free only if it is free on all of them; addresses this
// machine does not have are skipped.
func TestProbeEveryAddress(t *testing.T) {
	b := freeWindow(t, 1)

	free, err := probe([]string{"127.0.0.1", "198.51.100.1"}, b)
	if err != nil || !free {
		t.Fatalf("one local, one foreign address: free=%v err=%v, want free", free, err)
	}

	l, err := net.Listen("tcp", net.JoinHostPort("::1", itoa(b)))
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer l.Close()
	free, err = probe([]string{"127.0.0.1", "::1"}, b)
	if err != nil || free {
		t.Fatalf("busy on ::1 only: free=%v err=%v, want busy", free, err)
	}
	if !testutil.PortFree(b) {
		t.Fatal("the probe left 127.0.0.1 bound")
	}
}

func TestProbeNoUsableAddress(t *testing.T) {
	b := freeWindow(t, 1)
	_, err := probe([]string{"198.51.100.1", "198.51.100.2"}, b)
	if err == nil || !strings.Contains(err.Error(), "cannot assign requested address") {
		t.Fatalf("err = %v, want the bind error", err)
	}
}

func TestResolveDeduplicates(t *testing.T) {
	addrs, err := resolve("localhost")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("resolve(localhost) = %v: %s twice", addrs, a)
		}
		seen[a] = true
	}
	if got, _ := resolve(""); len(got) != 1 || got[0] != "" {
		t.Fatalf(`resolve("") = %q, want the wildcard [""]`, got)
	}
}
