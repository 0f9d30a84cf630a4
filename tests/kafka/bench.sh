#!/usr/bin/env bash
# Speed of braid and of the embedded broker next to Apache Kafka 3.9, on this
# machine, in one run; prints one Markdown table (the README's).
#
# Starts its own brokers: one Kafka 3.9.1 KRaft node (the jars of
# tests/kafka/fetch.sh, settings as tests/common/kafka_cluster.rs's single
# node) and `braid broker`, both on 127.0.0.1 with free ports, and stops them
# at exit. Then, on each broker, with 100-byte records on 6-partition topics:
#   - braid produce -j 4 (acks 1)      vs Kafka's ProducerPerformance (acks 1)
#   - braid consume (3 processes)      vs Kafka's ConsumerPerformance
#   - kcat produce and consume, in modern and legacy protocol mode.
# Every rate is records / wall-clock seconds of the client process, from its
# start to its exit (so the JVM tools pay their start-up, about 0.5 s); the
# CPU columns are user+system CPU seconds of the broker process and of the
# client (with its children) during the step: on a shared machine the wall
# clock mostly says how much CPU each side was given, the CPU what it cost.
#
# Every step runs ROUNDS times (default 3, the brokers taking turns) and the
# fastest round is kept, as other work on a shared machine only slows a run.
#
# Usage: [ROUNDS=3] tests/kafka/bench.sh [RECORDS]   (default 2000000)
# Needs: java, the jars (tests/kafka/fetch.sh), kcat, python3, cargo.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
N="${1:-2000000}"
ROUNDS="${ROUNDS:-3}"
SIZE=100
PARTS=6
jars="$root/target/kafka-3.9.1"
[ -f "$jars/.complete" ] || "$root/tests/kafka/fetch.sh" >&2
command -v kcat >/dev/null || { echo "bench.sh: kcat is not installed" >&2; exit 1; }
(cd "$root" && cargo build --release -q)
braid="$root/target/release/braid"
work="$(mktemp -d /tmp/braid-bench-XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
java_opts=(-Xmx512m -Xms128m -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$work/log4j.properties" -cp "$jars/*")
java_cmd() { java "${java_opts[@]}" "$@"; }
cpu_of() { # PID -> user+system CPU seconds
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

start_kafka() {
    local port ctl dir="$work/kafka"
    port="$(free_port)"; ctl="$(free_port)"
    mkdir -p "$dir"
    cat >"$work/log4j.properties" <<EOF
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctl
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.voters=1@127.0.0.1:$ctl
log.dirs=$dir/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
EOF
    java_cmd kafka.tools.StorageTool format -t braidBenchSingleNode00w -c "$dir/server.properties" >/dev/null
    # java itself, not a function in a subshell: its pid is the one to measure and kill.
    java "${java_opts[@]}" kafka.Kafka "$dir/server.properties" >"$dir/java.out" 2>&1 &
    kafka_pid=$!; pids+=("$kafka_pid")
    kafka_addr="127.0.0.1:$port"
    for _ in $(seq 1 300); do
        "$braid" topic list -b "$kafka_addr" >/dev/null 2>&1 && return
        sleep 0.2
    done
    echo "bench.sh: Kafka did not start; $dir/java.out:" >&2; tail "$dir/java.out" >&2; exit 1
}

start_embedded() {
    mkdir -p "$work/embedded"; : >"$work/embedded.out"
    "$braid" broker --listen 127.0.0.1:0 --data "$work/embedded" >"$work/embedded.out" 2>&1 &
    embedded_pid=$!; pids+=("$embedded_pid")
    for _ in $(seq 1 100); do
        embedded_addr="$(sed -n 's/^listening on //p' "$work/embedded.out" | head -1)"
        [ -n "$embedded_addr" ] && return
        sleep 0.1
    done
    echo "bench.sh: the embedded broker did not start" >&2; cat "$work/embedded.out" >&2; exit 1
}

declare -A rate cpu client
# step BROKER-NAME BROKER-PID ROW COMMAND... : runs COMMAND, records its rate and the broker's CPU.
step() {
    local name="$1" pid="$2" row="$3"; shift 3
    local c0 c1 TIMEFORMAT='%R %U %S'
    c0="$(cpu_of "$pid")"
    if ! { time "$@" >"$work/step.out" 2>&1; } 2>"$work/time"; then
        echo "bench.sh: $row on $name failed: $*" >&2; tail -5 "$work/step.out" >&2
        rate["$name/$row"]="failed"; cpu["$name/$row"]="-"; client["$name/$row"]="-"
        return
    fi
    c1="$(cpu_of "$pid")"
    read -r real user sys <"$work/time"
    local r b c
    r="$(awk -v n="$N" -v t="$real" 'BEGIN { printf "%.0f", n / t }')"
    b="$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", b - a }')"
    c="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')"
    echo "$name: $row: $r records/s, broker CPU $b s, client CPU $c s" >&2
    # The best of the rounds is kept (the others lost time to the machine's other work).
    case "${rate[$name/$row]:-0}" in failed) return ;; esac
    if [ "$r" -gt "${rate[$name/$row]:-0}" ]; then
        rate["$name/$row"]="$r"; cpu["$name/$row"]="$b"; client["$name/$row"]="$c"
    fi
}

# kcat in MODE (modern|legacy) with the rest of its arguments.
kcat_mode() {
    local mode="$1"; shift
    if [ "$mode" = legacy ]; then
        kcat "$@" -X api.version.request=false -X broker.version.fallback=0.9.0.1
    else
        kcat "$@"
    fi
}
kcat_produce() { kcat_mode "$1" -P -b "$2" -t "$3" -X acks=1 -X queue.buffering.max.messages=1000000 <"$work/lines"; }
kcat_consume() { # MODE ADDR TOPIC: reads to the end and checks the count
    local got
    got="$(kcat_mode "$1" -C -b "$2" -t "$3" -o beginning -e -q | wc -l)"
    [ "$got" -eq "$N" ] || { echo "kcat read $got of $N lines from $3" >&2; return 1; }
}
braid_consume() { # ADDR TOPIC: 3 worker processes to the end of the log
    "$braid" consume -b "$1" -t "$2" -g "bench-$2" -o earliest --exit-at-end --format json \
        | grep -q '"name":"shutdown_complete"'
}
consumer_perf() { # ADDR TOPIC
    java_cmd org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$1" \
        --topic "$2" --messages "$N" --group "perf-$2" --timeout 60000
}
producer_perf() { # ADDR TOPIC
    java_cmd org.apache.kafka.tools.ProducerPerformance --topic "$2" --num-records "$N" \
        --record-size "$SIZE" --throughput -1 --producer-props "bootstrap.servers=$1" acks=1
}

bench_broker() { # NAME ADDR PID ROUND: every step once, on topics of their own
    local name="$1" addr="$2" pid="$3"
    local t="$name-$4"
    for x in braid java kcat-modern kcat-legacy; do
        "$braid" topic create "$t-$x" --partitions "$PARTS" --replication 1 -b "$addr" >/dev/null
    done
    step "$name" "$pid" "braid produce -j 4" "$braid" produce -b "$addr" -t "$t-braid" \
        -j 4 -n "$N" --size "$SIZE" --acks 1 --key none
    step "$name" "$pid" "ProducerPerformance" producer_perf "$addr" "$t-java"
    step "$name" "$pid" "braid consume" braid_consume "$addr" "$t-braid"
    step "$name" "$pid" "ConsumerPerformance" consumer_perf "$addr" "$t-braid"
    for mode in modern legacy; do
        step "$name" "$pid" "kcat produce, $mode" kcat_produce "$mode" "$addr" "$t-kcat-$mode"
        step "$name" "$pid" "kcat consume, $mode" kcat_consume "$mode" "$addr" "$t-kcat-$mode"
    done
}

python3 -c "
import sys
line = ('x' * ($SIZE - 8))
sys.stdout.write(''.join(f'{i:07d} {line}\n' for i in range($N)))" >"$work/lines"
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
start_kafka
start_embedded
echo "kafka 3.9.1 on $kafka_addr (pid $kafka_pid), embedded broker on $embedded_addr (pid $embedded_pid)" >&2
for round in $(seq 1 "$ROUNDS"); do # the brokers take turns, so both see the same load
    bench_broker embedded "$embedded_addr" "$embedded_pid" "$round"
    bench_broker kafka "$kafka_addr" "$kafka_pid" "$round"
done
load1="$(cut -d' ' -f1-3 /proc/loadavg)"

ratio() { # A B -> A/B, or "-" when either is not a number
    case "$1$2" in *[!0-9]*|"") echo "-" ;; *) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' ;; esac
}
fmt() { case "$1" in *[!0-9]*|"") echo "$1" ;; *) printf "%'d" "$1" ;; esac; }
echo
echo "$(fmt "$N") records of $SIZE bytes, $PARTS partitions, best of $ROUNDS rounds, $(nproc) cores, load average $load0 before, $load1 after"
echo
echo "| step | embedded: records/s | broker, client CPU s | Kafka 3.9: records/s | broker, client CPU s | embedded / Kafka |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for row in "braid produce -j 4" "ProducerPerformance" "braid consume" "ConsumerPerformance" \
    "kcat produce, modern" "kcat produce, legacy" "kcat consume, modern" "kcat consume, legacy"; do
    e="${rate[embedded/$row]}"; k="${rate[kafka/$row]}"
    echo "| $row | $(fmt "$e") | ${cpu[embedded/$row]}, ${client[embedded/$row]} | $(fmt "$k") | ${cpu[kafka/$row]}, ${client[kafka/$row]} | $(ratio "$e" "$k") |"
done
for what in produce consume; do
    case $what in produce) b="braid produce -j 4"; j=ProducerPerformance ;; consume) b="braid consume"; j=ConsumerPerformance ;; esac
    echo "| braid / Java, $what | $(ratio "${rate[embedded/$b]}" "${rate[embedded/$j]}") | | $(ratio "${rate[kafka/$b]}" "${rate[kafka/$j]}") | | |"
done
