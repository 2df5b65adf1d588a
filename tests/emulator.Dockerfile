# The Google emulator (`google-emulator`) as an image, for docker-compose.yaml. Built from this
# repository (context: its root); the fixtures it trusts are copied in.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p vertex-passthrough-tests --bin google-emulator

FROM debian:bookworm-slim
COPY --from=build /src/target/release/google-emulator /usr/local/bin/google-emulator
COPY tests/fixtures /vp/tests/fixtures
WORKDIR /vp
ENTRYPOINT ["google-emulator"]
