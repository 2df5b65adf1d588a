//! The certificate for the local stack's TLS listener (`make run`, docker-compose): what lets the
//! google-genai SDK open its `wss://` Live sessions against Envoy on this machine.
//!
//! A private CA and one server certificate for `localhost`, `127.0.0.1` and `::1`, written once
//! into a directory and reused on later runs, so a user trusts the CA once. The CA is as harmless
//! to trust as a CA can be: its key is thrown away as soon as the server certificate is signed (it
//! can never sign anything else), and it is name-constrained to those loopback names anyway.
//! Nothing here is the emulator's Google CA, which only Envoy trusts and which is made anew on
//! every start.
use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, KeyPair, KeyUsagePurpose, NameConstraints,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The CA certificate users trust.
pub const CA_FILE: &str = "ca.pem";
/// The server certificate followed by the CA certificate.
pub const CERT_FILE: &str = "localhost.pem";
pub const KEY_FILE: &str = "localhost-key.pem";
/// The names the server certificate is valid for.
pub const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Below the 825 days some TLS clients (Apple's) accept for a server certificate.
const SERVER_VALIDITY: Duration = Duration::from_secs(800 * 24 * 3600);
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// A certificate older than this is replaced, well before it expires.
const RENEW_AFTER: Duration = Duration::from_secs(700 * 24 * 3600);

pub struct LocalTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Whether this call made them (false: kept from an earlier run).
    pub created: bool,
}

/// Makes sure `dir` holds a usable CA, server certificate and key; creates them when one is
/// missing or the certificate is old enough to renew.
pub fn ensure(dir: &Path) -> anyhow::Result<LocalTls> {
    let tls = LocalTls {
        ca: dir.join(CA_FILE),
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
        created: false,
    };
    if is_current(&tls.ca) && is_current(&tls.cert) && non_empty(&tls.key) {
        return Ok(tls);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let generated = generate()?;
    write(&tls.key, &generated.key_pem, 0o600)?;
    write(&tls.cert, &generated.chain_pem, 0o644)?;
    write(&tls.ca, &generated.ca_pem, 0o644)?;
    Ok(LocalTls {
        created: true,
        ..tls
    })
}

fn non_empty(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

fn is_current(path: &Path) -> bool {
    let modified = std::fs::metadata(path).and_then(|m| m.modified());
    non_empty(path) && modified.is_ok_and(|t| t.elapsed().map_or(true, |age| age < RENEW_AFTER))
}

fn write(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

struct Generated {
    ca_pem: String,
    chain_pem: String,
    key_pem: String,
}

fn validity(params: &mut CertificateParams, length: Duration) {
    let now = SystemTime::now();
    // A day back, for clocks that disagree a little.
    let start = now - Duration::from_secs(24 * 3600);
    params.not_before = time::OffsetDateTime::from(start);
    params.not_after = time::OffsetDateTime::from(now + length);
}

fn generate() -> anyhow::Result<Generated> {
    let ca_key = KeyPair::generate().context("generating the local CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(
        DnType::CommonName,
        "vertex-passthrough local CA (localhost only)",
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".to_string()),
            GeneralSubtree::IpAddress(CidrSubnet::V4([127, 0, 0, 0], [255, 0, 0, 0])),
            GeneralSubtree::IpAddress(CidrSubnet::V6(
                std::net::Ipv6Addr::LOCALHOST.octets(),
                [0xff; 16],
            )),
        ],
        excluded_subtrees: Vec::new(),
    });
    validity(&mut ca, CA_VALIDITY);
    let ca_cert = ca.self_signed(&ca_key).context("signing the local CA")?;

    let server_key = KeyPair::generate().context("generating the localhost key")?;
    let names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    let mut server = CertificateParams::new(names)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut server, SERVER_VALIDITY);
    let server_cert = server
        .signed_by(&server_key, &ca_cert, &ca_key)
        .context("signing the localhost certificate")?;
    // `ca_key` is dropped here, unwritten: the CA can sign nothing else.
    Ok(Generated {
        ca_pem: ca_cert.pem(),
        chain_pem: format!("{}{}", server_cert.pem(), ca_cert.pem()),
        key_pem: server_key.serialize_pem(),
    })
}
