# The rewind sidecar image for Argo CD's repo-server (see manifests/argocd).
# docker build -t rewind:0.1.0 .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin rewind && strip target/release/rewind

# glibc and CA certificates only; no shell. The CMP server runs `rewind generate` directly.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/rewind /usr/local/bin/rewind
USER 999:999
ENTRYPOINT ["/usr/local/bin/rewind"]
