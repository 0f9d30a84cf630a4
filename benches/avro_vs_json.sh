#!/bin/bash
# JSON, Avro and Protobuf for the same events: bytes per event (the
# producer's acknowledged value bytes, and the broker's log on disk),
# braid produce events/s (4 sender threads) and braid consume events/s (3
# forked workers), on 6-partition topics of the embedded broker with
# `braid registry`. ROUNDS rounds; in each, every format produces to a fresh
# topic and is then consumed, the formats' order rotating from round to
# round. Prints each run, then min / median / max per format and the ratio
# of medians to Avro's.
# Usage: cargo build --release && N=500000 ROUNDS=5 benches/avro_vs_json.sh
set -euo pipefail
B=$(realpath "${BRAID:-target/release/braid}")
N=${N:-500000}
ROUNDS=${ROUNDS:-5}
D=$(mktemp -d)
cd "$D"
"$B" broker --listen 127.0.0.1:0 --data "$D/data" > broker.out 2>&1 & BP=$!
trap 'kill $BP ${RP:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
wait_line() { for _ in $(seq 100); do [ -s "$1" ] && grep -q 'listening on' "$1" && return; sleep 0.1; done; echo "no 'listening on' in $1" >&2; exit 1; }
wait_line broker.out; BA=$(head -1 broker.out | sed 's/listening on //')
"$B" registry --listen 127.0.0.1:0 -b "$BA" > reg.out 2>&1 & RP=$!
wait_line reg.out; RA=http://$(head -1 reg.out | sed 's/listening on //')
FORMATS=(json avro protobuf)
echo -e "round\tformat\tproduce_eps\twire_bytes_per_event\tdisk_bytes_per_event\tconsume_eps" > results.tsv
for round in $(seq "$ROUNDS"); do
  order=("${FORMATS[@]:$(( (round - 1) % 3 ))}" "${FORMATS[@]:0:$(( (round - 1) % 3 ))}")
  for f in "${order[@]}"; do
    t="$f-$round"
    "$B" topic create "$t" --partitions 6 -b "$BA" > /dev/null
    extra=""; [ "$f" != json ] && extra="--schema $f --registry $RA"
    # shellcheck disable=SC2086
    "$B" produce -b "$BA" -t "$t" -n "$N" -j 4 --format json $extra | grep shutdown_complete > "produce-$t.json"
  done
  for f in "${order[@]}"; do
    t="$f-$round"
    extra=""; [ "$f" != json ] && extra="--registry $RA"
    # shellcheck disable=SC2086
    "$B" consume -b "$BA" -t "$t" -g "g-$t" -o earliest --exit-at-end --processes 3 --format json $extra \
      | grep shutdown_complete > "consume-$t.json"
    disk=$(du -scb data/"$t"-* | tail -1 | cut -f1)
    python3 - "$round" "$f" "$disk" "produce-$t.json" "consume-$t.json" >> results.tsv <<'EOF'
import json, sys
rnd, fmt, disk, p, c = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.load(open(sys.argv[4])), json.load(open(sys.argv[5]))
assert c["consumed"] == p["acked"] and c["invalid"] == 0, (p, c)
print("\t".join(map(str, [rnd, fmt, round(p["records_per_sec"]), round(p["bytes"] / p["acked"], 1),
                          round(disk / p["acked"], 1), round(c["events_per_sec"])])))
EOF
    tail -1 results.tsv
  done
done
N="$N" python3 - results.tsv <<'EOF'
import csv, os, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
fmts = ["json", "avro", "protobuf"]
col = lambda f, k: [float(r[k]) for r in rows if r["format"] == f]
print("\n%d rounds, %s events per run" % (len(col("json", "produce_eps")), os.environ["N"]))
print("| format | wire bytes/event | disk bytes/event | produce events/s min / median / max | consume events/s min / median / max |")
print("| --- | --- | --- | --- | --- |")
med = {}
for f in fmts:
    p, c = col(f, "produce_eps"), col(f, "consume_eps")
    med[f] = (statistics.median(p), statistics.median(c))
    print("| %s | %.1f | %.1f | %d / %d / %d | %d / %d / %d |" % (
        f, statistics.median(col(f, "wire_bytes_per_event")), statistics.median(col(f, "disk_bytes_per_event")),
        min(p), med[f][0], max(p), min(c), med[f][1], max(c)))
for f in ["json", "protobuf"]:
    print("%s / avro, ratio of medians: produce %.2f, consume %.2f" % (f, med[f][0] / med["avro"][0], med[f][1] / med["avro"][1]))
EOF
