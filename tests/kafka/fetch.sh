#!/usr/bin/env bash
# Fetches the Apache Kafka jars the real-Kafka tests run (tests/kafka/pom.xml)
# into target/kafka-3.9.1/ and target/kafka-4.1.1/, unless a previous run
# already did: each directory gets a `.complete` stamp once every jar is in,
# and a directory with its stamp is left alone (a second run fetches nothing).
# Needs Maven (mvn) and a JDK; .ci/run calls it before `cargo test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
pom="$root/tests/kafka/pom.xml"

fetch() { # VERSION [MAVEN ARGS...]
    local version="$1"; shift
    local dir="$root/target/kafka-$version"
    if [ -f "$dir/.complete" ]; then
        echo "kafka $version: $dir (cached)"
        return
    fi
    rm -rf "$dir"
    mvn -q -B -Dstyle.color=never -f "$pom" "$@" dependency:copy-dependencies </dev/null
    touch "$dir/.complete"
    echo "kafka $version: $dir (fetched)"
}

fetch 3.9.1
fetch 4.1.1 -P kafka4
