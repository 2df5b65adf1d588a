//! `google-emulator`: the Google emulators as a process, for `make run` and manual testing.
//!
//! google-emulator [--oauth-port N] [--metadata-port N] [--vertex-port N] [--ca-out PATH]
//!                 [--service-account FILE]... [--authorized-user FILE]... [--token-lifetime S]
use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};
use vertex_passthrough_tests::emulator::{
    fixtures_dir, AuthorizedUser, Emulator, EmulatorOptions, ServiceAccountKey,
};

const USAGE: &str = "usage: google-emulator [--oauth-port N] [--metadata-port N] \
[--vertex-port N] [--ca-out PATH] [--service-account FILE]... [--authorized-user FILE]... \
[--token-lifetime S]";

struct Args {
    oauth_port: u16,
    metadata_port: u16,
    vertex_port: u16,
    ca_out: Option<PathBuf>,
    service_accounts: Vec<PathBuf>,
    authorized_users: Vec<PathBuf>,
    token_lifetime_s: u64,
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
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
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
    let emulator = Emulator::start(options(&args)?).await?;
    let ca_path = match &args.ca_out {
        Some(path) => {
            emulator.write_ca_pem(path)?;
            path.clone()
        }
        None => emulator.ca_pem_path.clone(),
    };
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "google-emulator ready oauth={} metadata={} vertex={} ca={}",
        emulator.oauth_addr,
        emulator.metadata_addr,
        emulator.vertex_addr,
        ca_path.display()
    )?;
    stdout.flush()?;
    shutdown_signal().await?;
    eprintln!("google-emulator: shutting down");
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
