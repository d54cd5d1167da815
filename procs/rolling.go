package procs

import (
	"maps"
	"slices"
)

// This file is what a rolling reload (reload_strategy: rolling) does when
// it fails midway. It replaces one slot at a time, so at most N+1
// instances serve or start at once; the old instance of each replaced
// slot drains and stops as in any reload, so it cannot be switched back
// to. Going back therefore starts each replaced slot again with the config
// its old instance had, one slot at a time as well: the N+1 bound holds
// throughout, the new-config instances in those slots serve until their
// old-config successors are ready, and the reload's caller gets the error
// once the old config serves in every slot again. Every method runs on
// appLoop.

// revertRolling ends the failed rolling reload at (err says why) and
// begins the attempt that goes back to the old config in the slots it
// replaced; at's waiters are answered when that attempt ends.
func (a *app) revertRolling(at *attempt, err error) {
	waiters := at.waiters
	at.waiters = nil
	a.attempt = nil
	a.retry.stop()
	a.logger.Warn("rolling reload failed; going back to the old config in the slots it replaced",
		"slots", slices.Sorted(maps.Keys(at.replaced)), "err", err)
	rv := newAttempt(true, slices.Sorted(maps.Keys(at.replaced)), waiters)
	rv.rolling, rv.revert, rv.configs = true, err, at.replaced
	a.attempt = rv
	a.launch()
}
