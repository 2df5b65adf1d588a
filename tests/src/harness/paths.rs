//! Where the repository, the Envoy binary and the built filter are.
use std::path::PathBuf;

/// The repository root (the parent of the `tests` crate).
pub fn repo_root() -> PathBuf {
    let tests_crate = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    tests_crate
        .parent()
        .map(PathBuf::from)
        .unwrap_or(tests_crate)
}

/// `$ENVOY_BIN`, else the Envoy that `make setup` installs at `<repo>/.tools/bin/envoy`.
pub fn envoy_binary() -> PathBuf {
    let path = match std::env::var_os("ENVOY_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => repo_root().join(".tools/bin/envoy"),
    };
    if !path.is_file() {
        panic!("Envoy not found at {}: run `make setup`", path.display());
    }
    path
}

/// The filter as `make build` leaves it (or `$VERTEX_PASSTHROUGH_WASM`, to test another build of
/// it, e.g. a wasm-opt'd one). The tests exercise this very file, so they never build a stand-in:
/// a missing file is an instruction to the person running them.
pub fn wasm_path() -> PathBuf {
    let path = match std::env::var_os("VERTEX_PASSTHROUGH_WASM") {
        Some(file) if !file.is_empty() => PathBuf::from(file),
        _ => repo_root().join("target/wasm32-wasip1/release/vertex_passthrough.wasm"),
    };
    if !path.is_file() {
        panic!("{} missing: run `make build` first", path.display());
    }
    path
}

/// Where cargo put this package's binaries (google-emulator, live-client, render-envoy-config)
/// for the running test: the directory above the test executable's `deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let dir = if dir.ends_with("deps") {
        dir.parent().map(PathBuf::from).unwrap_or(dir)
    } else {
        dir
    };
    if !dir.join("google-emulator").is_file() {
        panic!(
            "google-emulator is not in {}: run the tests with cargo test -p vertex-passthrough-tests",
            dir.display()
        );
    }
    dir
}

/// The test stacks are on loopback: a proxy from the caller's environment must not get between a
/// client the tests run and Envoy.
pub fn without_proxy_env(command: &mut std::process::Command) -> &mut std::process::Command {
    for proxy in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        command.env_remove(proxy);
    }
    command
}
