# The local stack's tools as an image, for docker-compose.yaml: the Google emulator
# (`google-emulator`), `vp-config` and `render-envoy-config`, in /usr/local/bin (VP_BIN_DIR).
# Built from this repository (context: its root); the fixtures the emulator trusts are copied in.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p vertex-passthrough-tests --bin google-emulator \
        --bin render-envoy-config -p vp-config

FROM debian:bookworm-slim
COPY --from=build /src/target/release/google-emulator /src/target/release/render-envoy-config \
    /src/target/release/vp-config /usr/local/bin/
COPY tests/fixtures /vp/tests/fixtures
WORKDIR /vp
ENTRYPOINT ["google-emulator"]
