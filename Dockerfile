# The `braid` image docker-compose.yml builds from this repository: braid's
# release binary on a slim Debian, `braid` as the entrypoint (a service's
# `command` is braid's arguments).
#
#   docker build -t braid .
#   docker run --rm braid demo
FROM rust:1-bookworm AS build
WORKDIR /src
# Cargo.toml names the bench targets, so cargo wants their files too.
COPY Cargo.toml Cargo.lock ./
COPY bin bin
COPY src src
COPY benches benches
RUN cargo build --release --locked --bin braid

FROM debian:bookworm-slim
COPY --from=build /src/target/release/braid /usr/local/bin/braid
ENTRYPOINT ["braid"]
