package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// TestProxyProtocolOptions: the PROXY protocol keys and where they land.
func TestProxyProtocolOptions(t *testing.T) {
	pfx := netip.MustParsePrefix
	cases := []struct {
		name, yaml string
		want       ProxyProtocol
	}{
		{"default: off", "", ProxyProtocol{HeaderTimeout: 5 * time.Second}},
		{"v1", "    proxy_protocol: v1\n", ProxyProtocol{Send: 1, HeaderTimeout: 5 * time.Second}},
		{"V2 and probes", "    proxy_protocol: V2\n    healthcheck_proxy_protocol: true\n",
			ProxyProtocol{Send: 2, Healthcheck: true, HeaderTimeout: 5 * time.Second}},
		{"off", "    proxy_protocol: \"off\"\n", ProxyProtocol{HeaderTimeout: 5 * time.Second}},
		{"accept", "    accept_proxy_protocol: true\n    trusted_proxies: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\", 10.1.2.3/16]\n    proxy_header_timeout: 1500ms\n",
			ProxyProtocol{Accept: true, HeaderTimeout: 1500 * time.Millisecond,
				Trusted: []netip.Prefix{pfx("10.0.0.0/8"), pfx("192.0.2.7/32"), pfx("2001:db8::/32"), pfx("10.1.0.0/16")}}},
		{"accept off", "    accept_proxy_protocol: false\n", ProxyProtocol{HeaderTimeout: 5 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustLoad(t, "apps:\n"+app("a", tc.yaml)).Apps[0].Proxy
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestProxyProtocolProblems: one problem each, at the key.
func TestProxyProtocolProblems(t *testing.T) {
	for _, tc := range []problemCase{
		main("proxy_protocol unknown", "apps:\n"+app("a", "    proxy_protocol: v3\n"), 4, "apps[0].proxy_protocol", `want v1 or v2 (or off), got "v3"`),
		main("proxy_protocol a number", "apps:\n"+app("a", "    proxy_protocol: 2\n"), 4, "apps[0].proxy_protocol", `want v1 or v2`),
		main("accept not a boolean", "apps:\n"+app("a", "    accept_proxy_protocol: yes please\n"), 4, "apps[0].accept_proxy_protocol", "want true or false"),
		main("accept without trusted_proxies", "apps:\n"+app("a", "    accept_proxy_protocol: true\n"), 4, "apps[0].accept_proxy_protocol", "needs trusted_proxies"),
		main("accept with an empty trusted_proxies", "apps:\n"+app("a", "    accept_proxy_protocol: true\n    trusted_proxies: []\n"), 4, "apps[0].accept_proxy_protocol", "needs trusted_proxies"),
		main("trusted_proxies without accept", "apps:\n"+app("a", "    trusted_proxies: [10.0.0.0/8]\n"), 4, "apps[0].trusted_proxies", "no effect without accept_proxy_protocol"),
		main("trusted_proxies not a CIDR", "apps:\n"+app("a", "    accept_proxy_protocol: true\n    trusted_proxies: [10.0.0.0/8, lb.example.com]\n"), 5, "apps[0].trusted_proxies[1]", `got "lb.example.com"`),
		main("trusted_proxies bad prefix length", "apps:\n"+app("a", "    accept_proxy_protocol: true\n    trusted_proxies: [10.0.0.0/33]\n"), 5, "apps[0].trusted_proxies[0]", "want an address range"),
		main("healthcheck_proxy_protocol without proxy_protocol", "apps:\n"+app("a", "    healthcheck_proxy_protocol: true\n"), 4, "apps[0].healthcheck_proxy_protocol", "no effect without proxy_protocol"),
		main("proxy_header_timeout 0", "apps:\n"+app("a", "    accept_proxy_protocol: true\n    trusted_proxies: [127.0.0.1]\n    proxy_header_timeout: 0\n"), 6, "apps[0].proxy_header_timeout", "more than 0"),
	} {
		t.Run(tc.name, func(t *testing.T) { checkOneProblem(t, tc) })
	}
}

// TestProxyProtocolChangeReloads: a changed PROXY key is a changed app.
func TestProxyProtocolChangeReloads(t *testing.T) {
	a := mustLoad(t, "apps:\n"+app("a", ""))
	b := mustLoad(t, "apps:\n"+app("a", "    proxy_protocol: v2\n"))
	if _, _, changed := Diff(a, b); len(changed) != 1 {
		t.Fatalf("changed = %v", changed)
	}
}
