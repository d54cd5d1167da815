#!/usr/bin/env bash
# make bench: side-by-side benchmarks of direct, gracevisord, HAProxy and nginx (stream) in one run.
# Installs what it needs from Debian when missing (needs root for that), builds the binaries, then
# runs the Go driver in scripts/bench. Extra arguments go to the driver (see: go run ./scripts/bench -h).
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v haproxy >/dev/null || need+=(haproxy)
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v wrk >/dev/null || need+=(wrk)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian starts the services it installs; the benchmark runs its own instances.
  service nginx stop >/dev/null 2>&1 || true
  service haproxy stop >/dev/null 2>&1 || true
  service redis-server stop >/dev/null 2>&1 || true
fi
make build >/dev/null
exec go run ./scripts/bench -bin ./bin "$@"
