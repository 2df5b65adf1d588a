//! `google-emulator`: the Google emulators as a process, for `make run` and manual testing.
//!
//! google-emulator [--oauth-port N] [--metadata-port N] [--vertex-port N] [--ca-out PATH]
//!                 [--service-account FILE]... [--authorized-user FILE]... [--token-lifetime S]
//!                 [--local-tls-dir DIR] [--ready-file PATH] [--any-project]
//! google-emulator --tls-only --local-tls-dir DIR
//!
//! `--local-tls-dir` also makes sure DIR holds the local stack's CA and `localhost` certificate
//! for Envoy's TLS listener (see `vertex_passthrough_tests::local_tls`); `--ready-file` is
//! removed at start and written (with the ready line) once everything listens, so a supervisor
//! such as docker-compose's healthcheck can wait for it. `--tls-only` makes sure of the local
//! certificate and exits without starting anything. `--any-project` lets every account use any
//! project (`make run` with a user's config, whose projects the fixture keys do not name).
use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};
use vertex_passthrough_tests::emulator::{
    fixtures_dir, AuthorizedUser, Emulator, EmulatorOptions, ServiceAccountKey,
};
use vertex_passthrough_tests::local_tls;

const USAGE: &str = "usage: google-emulator [--oauth-port N] [--metadata-port N] \
[--vertex-port N] [--ca-out PATH] [--service-account FILE]... [--authorized-user FILE]... \
[--token-lifetime S] [--local-tls-dir DIR] [--ready-file PATH] [--any-project]
       google-emulator --tls-only --local-tls-dir DIR";

struct Args {
    oauth_port: u16,
    metadata_port: u16,
    vertex_port: u16,
    ca_out: Option<PathBuf>,
    service_accounts: Vec<PathBuf>,
    authorized_users: Vec<PathBuf>,
    token_lifetime_s: u64,
    local_tls_dir: Option<PathBuf>,
    ready_file: Option<PathBuf>,
    tls_only: bool,
    any_project: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut parsed = Args {
        oauth_port: 8081,
        metadata_port: 8082,
        vertex_port: 8443,
        ca_out: None,
        service_accounts: Vec::new(),
        authorized_users: Vec::new(),
        token_lifetime_s: 3600,
        local_tls_dir: None,
        ready_file: None,
        tls_only: false,
        any_project: false,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if flag == "--tls-only" {
            parsed.tls_only = true;
            continue;
        }
        if flag == "--any-project" {
            parsed.any_project = true;
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || -> anyhow::Result<u64> {
            value
                .parse()
                .with_context(|| format!("{flag} expects a number, got {value:?}"))
        };
        match flag.as_str() {
            "--oauth-port" => parsed.oauth_port = port(number()?, &flag)?,
            "--metadata-port" => parsed.metadata_port = port(number()?, &flag)?,
            "--vertex-port" => parsed.vertex_port = port(number()?, &flag)?,
            "--token-lifetime" => parsed.token_lifetime_s = number()?,
            "--ca-out" => parsed.ca_out = Some(PathBuf::from(value)),
            "--service-account" => parsed.service_accounts.push(PathBuf::from(value)),
            "--authorized-user" => parsed.authorized_users.push(PathBuf::from(value)),
            "--local-tls-dir" => parsed.local_tls_dir = Some(PathBuf::from(value)),
            "--ready-file" => parsed.ready_file = Some(PathBuf::from(value)),
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    Ok(parsed)
}

fn port(value: u64, flag: &str) -> anyhow::Result<u16> {
    u16::try_from(value).with_context(|| format!("{flag}: {value} is not a port"))
}

/// `tests/fixtures` under the working directory (the repository root), else where it was built.
fn default_fixtures() -> PathBuf {
    let relative = Path::new("tests/fixtures");
    if relative.is_dir() {
        relative.to_path_buf()
    } else {
        fixtures_dir()
    }
}

fn options(args: &Args) -> anyhow::Result<EmulatorOptions> {
    let fixtures = default_fixtures();
    let account_files = if args.service_accounts.is_empty() && args.authorized_users.is_empty() {
        vec![
            fixtures.join("service_account_a.json"),
            fixtures.join("service_account_b.json"),
        ]
    } else {
        args.service_accounts.clone()
    };
    let user_files = if args.service_accounts.is_empty() && args.authorized_users.is_empty() {
        vec![fixtures.join("authorized_user.json")]
    } else {
        args.authorized_users.clone()
    };
    Ok(EmulatorOptions {
        service_accounts: account_files
            .iter()
            .map(|path| ServiceAccountKey::from_file(path))
            .collect::<anyhow::Result<_>>()?,
        authorized_users: user_files
            .iter()
            .map(|path| AuthorizedUser::from_file(path))
            .collect::<anyhow::Result<_>>()?,
        token_lifetime_s: args.token_lifetime_s,
        oauth_port: args.oauth_port,
        metadata_port: args.metadata_port,
        vertex_port: args.vertex_port,
        log_requests: true,
        check_project_access: !args.any_project,
        ..EmulatorOptions::default()
    })
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    if let Some(ready) = &args.ready_file {
        match std::fs::remove_file(ready) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", ready.display()))
            }
            _ => {}
        }
    }
    if let Some(dir) = &args.local_tls_dir {
        let tls = local_tls::ensure(dir)?;
        eprintln!(
            "google-emulator: {} the local TLS certificate in {} (CA: {})",
            if tls.created { "created" } else { "kept" },
            dir.display(),
            tls.ca.display()
        );
    }
    if args.tls_only {
        anyhow::ensure!(
            args.local_tls_dir.is_some(),
            "--tls-only needs --local-tls-dir DIR\n{USAGE}"
        );
        return Ok(());
    }
    let emulator = Emulator::start(options(&args)?).await?;
    let ca_path = match &args.ca_out {
        Some(path) => {
            emulator.write_ca_pem(path)?;
            path.clone()
        }
        None => emulator.ca_pem_path.clone(),
    };
    let ready_line = format!(
        "google-emulator ready oauth={} metadata={} vertex={} ca={}",
        emulator.oauth_addr,
        emulator.metadata_addr,
        emulator.vertex_addr,
        ca_path.display()
    );
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{ready_line}")?;
    stdout.flush()?;
    if let Some(ready) = &args.ready_file {
        std::fs::write(ready, format!("{ready_line}\n"))
            .with_context(|| format!("writing {}", ready.display()))?;
    }
    shutdown_signal().await?;
    eprintln!("google-emulator: shutting down");
    if let Some(ready) = &args.ready_file {
        let _ = std::fs::remove_file(ready);
    }
    drop(emulator);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("google-emulator: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
