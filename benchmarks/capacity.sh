#!/usr/bin/env bash
# Matomo capacity benchmark (issue 13), one command:   benchmarks/capacity.sh [--quick] [program options]
# Brings up its own Matomo kit instance (../shared/matomo; not the default one on 8780), runs
# benchmarks/Matomo.Rpc.Capacity against it directly and then with QueuedTracking (MATOMO_QUEUED=1), prints both
# tables and writes artifacts/capacity.json, then stops the kit (the state dir is kept: the next run starts in seconds).
# Direct Matomo is measured in rounds of alternating slots (bulk client, Matomo.Rpc, bulk client with Matomo.Rpc's
# hits, the same while an untracked Greeter serves the same calls, Matomo.Rpc with fixed requests in flight), so that
# the machine's drift falls on both sides of each ratio; the ratios are per round and their median.
# Settings (environment): MATOMO_KIT (default: ../shared/matomo beside the repository, else /work/shared/matomo),
# MATOMO_STATE (/tmp/matomo-kit-bench), MATOMO_HTTP_PORT (8782), MATOMO_DB_PORT (3319), MATOMO_REDIS_PORT (6391),
# CAPACITY_MODES ("direct queued"), CAPACITY_KEEP_KIT=1 to leave the kit running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
kit=${MATOMO_KIT:-}
if [[ -z $kit ]]; then
  for k in "$repo/../shared/matomo" /work/shared/matomo; do [[ -x $k/up.sh ]] && { kit=$k; break; }; done
fi
[[ -n $kit && -x $kit/up.sh ]] || { echo "capacity.sh: no Matomo kit (set MATOMO_KIT to the folder of up.sh)" >&2; exit 2; }
export MATOMO_STATE=${MATOMO_STATE:-/tmp/matomo-kit-bench}
export MATOMO_HTTP_PORT=${MATOMO_HTTP_PORT:-8782} MATOMO_DB_PORT=${MATOMO_DB_PORT:-3319} MATOMO_REDIS_PORT=${MATOMO_REDIS_PORT:-6391}
env_file=$MATOMO_STATE.env
output=$repo/artifacts/capacity.json

cd "$repo"
echo "capacity.sh: building (Release) ..."
build_log=$(dotnet build -c Release --nologo -v q benchmarks/Matomo.Rpc.Capacity/Matomo.Rpc.Capacity.csproj 2>&1) || { echo "$build_log" >&2; exit 1; }
program=(dotnet "$repo/benchmarks/Matomo.Rpc.Capacity/bin/Release/net10.0/Matomo.Rpc.Capacity.dll")

stop_kit() { [[ ${CAPACITY_KEEP_KIT:-0} == 1 ]] || "$kit/down.sh" >/dev/null 2>&1 || true; }
trap stop_kit EXIT

rm -f "$output"
started=$(date +%s)
status=0
for mode in ${CAPACITY_MODES:-direct queued}; do
  queued=0; [[ $mode == queued ]] && queued=1
  MATOMO_QUEUED=$queued "$kit/up.sh" "$env_file" | tail -1
  if [[ $queued == 1 ]]; then
    # Leftovers of an interrupted run would be counted as this run's work: empty the queue first.
    (set -a; . "$env_file"; "$MATOMO_QUEUE_PROCESS" >/dev/null)
  fi
  (set -a; . "$env_file"; set +a; "${program[@]}" --output "$output" "$@") || status=$?
done
echo
echo "=== both modes ($(($(date +%s) - started)) s) ==="
[[ -f $output ]] && "${program[@]}" --table --output "$output"
exit $status
