package ports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// resolveTimeout bounds the host lookup so Acquire cannot hang on a broken
// resolver.
const resolveTimeout = 5 * time.Second

// resolve returns the distinct addresses host stands for. "" stands for the
// wildcard address, as in net.Listen.
func resolve(host string) ([]string, error) {
	if host == "" {
		return []string{""}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("ports: resolve %q: %w", host, err)
	}
	var addrs []string
	for _, ip := range ips {
		// Duplicates would make the probe collide with itself.
		if s := ip.String(); !slices.Contains(addrs, s) {
			addrs = append(addrs, s)
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("ports: resolve %q: no addresses", host)
	}
	return addrs, nil
}

// probe reports whether port can be bound on every address in addrs. It
// binds them all at once, then closes them.
//
//   - free=true, err=nil: every address bound (addresses that do not exist on
//     this machine are skipped, as long as at least one bound).
//   - free=false, err=nil: some address is in use (EADDRINUSE).
//   - err!=nil: a probe failed for another reason (permission, no such local
//     address, ...); trying other ports would not help.
func probe(addrs []string, port int) (free bool, err error) {
	var (
		bound    []net.Listener
		notAvail error
	)
	defer func() {
		for _, l := range bound {
			l.Close()
		}
	}()
	for _, ip := range addrs {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		switch {
		case err == nil:
			bound = append(bound, l)
		case errors.Is(err, syscall.EADDRINUSE):
			return false, nil
		case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
			notAvail = err // e.g. ::1 on a host without IPv6; the app cannot use it either
		default:
			return false, fmt.Errorf("probe: %w", err)
		}
	}
	if len(bound) == 0 {
		return false, fmt.Errorf("probe: %w", notAvail)
	}
	return true, nil
}
