#!/usr/bin/env bash
# Fetches the Apache Kafka jars the real-Kafka tests run (tests/kafka/pom.xml)
# into target/kafka-3.9.1/ and target/kafka-4.4.0/, unless a previous run
# already did: each directory gets a `.complete` stamp (the pom's checksum)
# once every jar is in, and a directory whose stamp matches the pom is left
# alone (a second run fetches nothing; a changed pom fetches again).
# Needs Maven (mvn) and a JDK; .ci/run calls it before `cargo test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
pom="$root/tests/kafka/pom.xml"

fetch() { # VERSION [MAVEN ARGS...]
    local version="$1"; shift
    local dir="$root/target/kafka-$version"
    # The stamp holds the pom's checksum: a changed pom fetches again.
    local want
    want="$(sha256sum "$pom" | cut -d' ' -f1)"
    if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$want" ]; then
        echo "kafka $version: $dir (cached)"
        return
    fi
    rm -rf "$dir"
    mvn -q -B -Dstyle.color=never -f "$pom" "$@" dependency:copy-dependencies </dev/null
    echo "$want" >"$dir/.complete"
    echo "kafka $version: $dir (fetched)"
}

fetch 3.9.1
fetch 4.4.0 -P kafka4
