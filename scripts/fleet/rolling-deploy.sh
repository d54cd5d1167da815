#!/bin/sh
# rolling-deploy.sh — reload (or upgrade) gracevisord on one host at a time,
# waiting for each host to be healthy before the next one (docs/fleet.md).
#
# Usage: rolling-deploy.sh [--upgrade] [--settle SECONDS] HOST:RPCPORT...
#
#   default     gracevisorctl reload --all on each host: every app gets a new
#               instance (a new release in place, changed environment, ...)
#   --upgrade   gracevisorctl upgrade: the daemon replaces itself with the
#               binary at its path (a new gracevisord), listeners handed over
#   --settle S  after a host is healthy again, wait S seconds (default 2) so
#               the balancer's checks (rise × inter) count it back in
#
# Environment: GRACEVISORCTL (default gracevisorctl) and GRACEVISORCTL_FLAGS
# (e.g. "--token-file /etc/gracevisor/token"); HEALTH_TIMEOUT (s, default 60)
# bounds the wait for a host's GET /healthz to answer 200.
#
# Before touching a host it must be healthy; after its reload or upgrade,
# /healthz must answer 200 and every app must be RUNNING (gracevisorctl
# status, exit 0). Any failure stops the rollout with exit 1 and leaves the
# remaining hosts untouched; a failed reload or upgrade changes nothing on
# its host (the old instances, or the old daemon, keep serving).
set -eu

ctl=${GRACEVISORCTL:-gracevisorctl}
flags=${GRACEVISORCTL_FLAGS:-}
timeout=${HEALTH_TIMEOUT:-60}
action=reload
settle=2

usage() {
	echo "usage: $0 [--upgrade] [--settle SECONDS] HOST:RPCPORT..." >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--upgrade) action=upgrade; shift ;;
	--settle) [ $# -ge 2 ] || usage; settle=$2; shift 2 ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || usage

# healthy HOST:PORT: wait until GET /healthz answers 200 (serving).
healthy() {
	deadline=$(($(date +%s) + timeout))
	until curl -fsS -o /dev/null --max-time 2 "http://$1/healthz" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "rolling-deploy: $1: /healthz not 200 after ${timeout}s" >&2
			return 1
		fi
		sleep 0.2
	done
}

n=0
for host in "$@"; do
	n=$((n + 1))
	healthy "$host" || { echo "rolling-deploy: $host is not healthy; nothing done on it or after it" >&2; exit 1; }
	echo "rolling-deploy: [$n/$#] $host: $action"
	# shellcheck disable=SC2086 # flags are words on purpose
	if [ "$action" = upgrade ]; then
		"$ctl" --rpc "$host" $flags upgrade || { echo "rolling-deploy: $host: upgrade failed (the old daemon keeps serving); stopping" >&2; exit 1; }
	else
		"$ctl" --rpc "$host" $flags reload --all || { echo "rolling-deploy: $host: reload failed (the old instances keep serving); stopping" >&2; exit 1; }
	fi
	healthy "$host" || exit 1
	"$ctl" --rpc "$host" $flags status >/dev/null || { echo "rolling-deploy: $host: an app is not RUNNING after the $action; stopping" >&2; exit 1; }
	echo "rolling-deploy: [$n/$#] $host: healthy"
	if [ "$n" -lt $# ]; then
		sleep "$settle"
	fi
done
echo "rolling-deploy: $action done on $# host(s)"
