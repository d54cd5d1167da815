package l4proxy

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestSwitchSetLeastConnections: with several backends each new connection
// goes to the least loaded one, equals taken in turn; when one backend's
// connections close, it takes the next ones.
func TestSwitchSetLeastConnections(t *testing.T) {
	names := []string{"A", "B", "C"}
	var bs []*Backend
	for _, n := range names {
		bs = append(bs, NewBackend(newServer(t, named(n)).addr()))
	}
	p := &Proxy{}
	if retired := p.SwitchSet(bs); len(retired) != 0 {
		t.Fatalf("first SwitchSet retired %v", retired)
	}
	addr := startProxy(t, p)
	open := map[string][]net.Conn{}
	for range 30 { // each stays open, so the next one sees the load
		c, name := greeting(t, addr)
		open[name] = append(open[name], c)
	}
	for i, n := range names {
		if len(open[n]) != 10 || bs[i].Conns() != 10 {
			t.Fatalf("30 open connections: A %d, B %d, C %d; want 10 each",
				len(open["A"]), len(open["B"]), len(open["C"]))
		}
	}
	for _, c := range open["B"] {
		c.Close()
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return bs[1].Conns() == 0 }) {
		t.Fatalf("B still has %d connections", bs[1].Conns())
	}
	for i := range 10 {
		c, name := greeting(t, addr)
		defer c.Close()
		if name != "B" {
			t.Fatalf("new connection %d went to %s, want B (the least loaded)", i, name)
		}
	}
	if w := p.Stats().Waited; w != 0 {
		t.Fatalf("%d clients waited", w)
	}
}

// TestSwitchSetSkipsFailingBackend: a backend that refuses connections is
// left out at once; clients do not wait while another one accepts.
func TestSwitchSetSkipsFailingBackend(t *testing.T) {
	dead := NewBackend(testutil.FreeAddr(t)) // nothing listens there
	live := NewBackend(newServer(t, named("live")).addr())
	p := &Proxy{}
	p.SwitchSet([]*Backend{dead, live})
	addr := startProxy(t, p)
	for i := range 6 {
		c, name := greeting(t, addr)
		c.Close()
		if name != "live" {
			t.Fatalf("connection %d went to %q", i, name)
		}
	}
	if st := p.Stats(); st.Waited != 0 || st.Failed != 0 {
		t.Fatalf("waited %d, failed %d; want 0, 0", st.Waited, st.Failed)
	}
}

// TestSwitchSetRetiresWhatItDrops: only the backends the new set leaves
// out are retired; a retired backend in a set is never picked.
func TestSwitchSetRetiresWhatItDrops(t *testing.T) {
	a, b, c := NewBackend("127.0.0.1:1"), NewBackend("127.0.0.1:2"), NewBackend("127.0.0.1:3")
	p := &Proxy{}
	p.SwitchSet([]*Backend{a, b})
	if retired := p.SwitchSet([]*Backend{b, c}); !slices.Equal(retired, []*Backend{a}) {
		t.Fatalf("SwitchSet(b, c) retired %v, want [a]", retired)
	}
	if !a.Retired() || b.Retired() || c.Retired() {
		t.Fatalf("retired: a %v, b %v, c %v", a.Retired(), b.Retired(), c.Retired())
	}
	if got := p.Backends(); !slices.Equal(got, []*Backend{b, c}) || p.Current() != b {
		t.Fatalf("Backends() = %v, Current() = %v", got, p.Current())
	}
	if old := p.Switch(c); old != b {
		t.Fatalf("Switch(c) returned %v, want b", old)
	}
	p.SwitchSet([]*Backend{a, c}) // a is retired: only c can be picked
	for range 5 {
		if got := p.target.Load().pick(nil); got != c {
			t.Fatalf("picked %v, want c", got)
		}
	}
	if retired := p.Refuse(); retired != c || !c.Retired() {
		t.Fatalf("Refuse returned %v", retired)
	}
}
