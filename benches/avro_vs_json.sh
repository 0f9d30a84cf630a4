#!/bin/bash
# Avro against JSON for the same events: bytes per event (the producer's
# acknowledged value bytes, and the broker's log on disk) and braid consume
# events/s (3 forked workers, 6 partitions, three runs each, alternating).
# Usage: cargo build --release && N=500000 benches/avro_vs_json.sh
set -euo pipefail
B=$(realpath "${BRAID:-target/release/braid}")
N=${N:-500000}
D=$(mktemp -d)
cd "$D"
"$B" broker --listen 127.0.0.1:0 --data "$D/data" --topic json:6 --topic avro:6 > broker.out 2>&1 & BP=$!
trap 'kill $BP ${RP:-} 2>/dev/null; rm -rf "$D"' EXIT
sleep 1; BA=$(head -1 broker.out | sed 's/listening on //')
"$B" registry --listen 127.0.0.1:0 -b "$BA" > reg.out 2>&1 & RP=$!
sleep 1.5; RA=http://$(head -1 reg.out | sed 's/listening on //')
for f in json avro; do
  extra=""; [ $f = avro ] && extra="--schema avro --registry $RA"
  "$B" produce -b "$BA" -t $f -n "$N" -j 4 --format json $extra | grep shutdown_complete \
    | python3 -c "import json,sys; s=json.load(sys.stdin); print('$f produce: %d events, %d bytes, %.1f bytes/event, %.0f events/s' % (s['acked'], s['bytes'], s['bytes']/s['acked'], s['records_per_sec']))"
  echo "$f log on disk: $(du -scb data/$f-* | tail -1 | awk -v n="$N" '{printf "%d bytes, %.1f per event", $1, $1/n}')"
done
for run in 1 2 3; do for f in json avro; do
  extra=""; [ $f = avro ] && extra="--registry $RA"
  "$B" consume -b "$BA" -t $f -g g$run -o earliest --exit-at-end --processes 3 --format json $extra | grep shutdown_complete \
    | python3 -c "import json,sys; s=json.load(sys.stdin); print('$f consume run $run: %d events (%d invalid) in %d ms, %.0f events/s' % (s['consumed'], s['invalid'], s['elapsed_ms'], s['events_per_sec']))"
done; done
