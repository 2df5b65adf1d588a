//! A throwaway certificate authority and a server certificate for the Vertex hosts, generated at
//! start so nothing secret is checked in; Envoy is told to trust the CA.
use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// The names the server certificate is valid for.
pub const SERVER_NAMES: [&str; 8] = [
    "aiplatform.googleapis.com",
    "*.googleapis.com",
    "*.us.rep.googleapis.com",
    "*.eu.rep.googleapis.com",
    "aiplatform.us.rep.googleapis.com",
    "aiplatform.eu.rep.googleapis.com",
    "localhost",
    "127.0.0.1",
];

pub(crate) struct TestPki {
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    pub server_config: Arc<rustls::ServerConfig>,
}

pub(crate) fn generate() -> anyhow::Result<TestPki> {
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "vertex-passthrough emulator test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).context("signing the CA")?;

    let server_key = KeyPair::generate().context("generating the server key")?;
    let names: Vec<String> = SERVER_NAMES.iter().map(|name| (*name).to_owned()).collect();
    let mut server_params = CertificateParams::new(names)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "aiplatform.googleapis.com");
    server_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params
        .signed_by(&server_key, &ca_cert, &ca_key)
        .context("signing the server certificate")?;

    let chain = vec![
        server_cert.der().clone(),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("TLS server certificate")?;
    // Google's front ends offer both; Envoy picks h2 for REST and HTTP/1.1 for WebSocket upgrades.
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    Ok(TestPki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        server_config: Arc::new(server_config),
    })
}
