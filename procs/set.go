package procs

import (
	"maps"
	"slices"

	"github.com/gracevisor/gracevisor/l4proxy"
)

// This file is the app's serving set: its members by slot, and the
// routing that follows from them. Every method runs on appLoop.

// members are the serving members in slot order.
func (a *app) members() []*member {
	return slices.SortedFunc(maps.Values(a.serving), func(x, y *member) int { return x.in.slot - y.in.slot })
}

// first is the serving member of the lowest slot, or nil.
func (a *app) first() *member {
	if ms := a.members(); len(ms) > 0 {
		return ms[0]
	}
	return nil
}

// memberOf is in's member if in serves, else nil.
func (a *app) memberOf(in *instance) *member {
	if m := a.serving[in.slot]; m != nil && m.in == in {
		return m
	}
	return nil
}

// routes are the serving members' backends, in slot order.
func (a *app) routes() []*l4proxy.Backend {
	ms := a.members()
	bs := make([]*l4proxy.Backend, len(ms))
	for i, m := range ms {
		bs[i] = m.in.backend
	}
	return bs
}

// route sends new connections to the serving set; the backends it leaves
// out are retired. With no member, new clients wait (connect_timeout).
func (a *app) route() { a.front.proxy.SwitchSet(a.routes()) }

// emptySlots are the slots the config wants that nothing serves.
func (a *app) emptySlots() []int {
	var out []int
	for _, slot := range a.wantedSlots() {
		if a.serving[slot] == nil {
			out = append(out, slot)
		}
	}
	return out
}

// instanceRefs are the serving instances, in slot order.
func (a *app) instanceRefs() []InstanceRef {
	ms := a.members()
	out := make([]InstanceRef, len(ms))
	for i, m := range ms {
		out[i] = InstanceRef{Slot: m.in.slot, PID: m.in.pid, Port: m.in.port}
	}
	return out
}
