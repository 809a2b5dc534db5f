//! The server serves HTTPS itself (`[tls]`): a private CA and the server's
//! certificate are made here (rcgen, on ring), the server listens on
//! 127.0.0.1:0 over HTTPS, and a real pos-agent that trusts the CA
//! (`sync.ca_cert`, passed at enrollment) enrolls, sells and uploads the
//! sale over https. `doctor` checks the CA file and reaches the server
//! with it; a client that does not trust the CA, and one speaking plain
//! HTTP to the port, both fail cleanly while the server goes on.

use std::time::Duration;

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use system_tests::harness::{sell, write_config};
use system_tests::scenario::{CATALOG, create_chain};
use system_tests::system::{TestAgent, TestServer, tune_for_tests};

/// A CA and a server certificate for 127.0.0.1 and localhost it issued,
/// written as PEM files in `dir`: (CA file, certificate file, key file).
fn make_pki(
    dir: &std::path::Path,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Loyalty test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key)?;

    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "sync-server under test");
    let server_cert = params.signed_by(&server_key, &ca, &ca_key)?;

    let ca_path = dir.join("ca.pem");
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    std::fs::write(&ca_path, ca.pem())?;
    std::fs::write(&cert_path, server_cert.pem())?;
    std::fs::write(&key_path, server_key.serialize_pem())?;
    Ok((ca_path, cert_path, key_path))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_trusting_a_private_ca_enrolls_and_syncs_a_sale_over_https() -> anyhow::Result<()>
{
    let tmp = tempfile::tempdir()?;
    let (ca_path, cert_path, key_path) = make_pki(tmp.path())?;
    let ca_pem = std::fs::read(&ca_path)?;
    let server =
        TestServer::start_tls(&tmp.path().join("server"), &cert_path, &key_path, &ca_pem).await?;
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let chain = create_chain(&server.admin()).await?;
    let token = server.admin().enrollment_token(chain.stores[0].id).await?;

    // Without the CA, enrollment fails on the certificate, and says so.
    let refused = pos_agent::enroll(&url, &token.token, &tmp.path().join("untrusting")).await;
    let refused = format!(
        "{:#}",
        refused.err().context("an unknown CA must be refused")?
    );
    assert!(refused.contains("cannot reach"), "{refused}");

    // With it, a real agent enrolls, keeps `sync.ca_cert`, sells and uploads.
    let till_dir = tmp.path().join("till");
    let mut config = pos_agent::enroll_trusting(
        &url,
        &token.token,
        &till_dir,
        pos_agent::ExistingEnrollment::Refuse,
        Some(&ca_path),
    )
    .await?;
    assert_eq!(config.sync.ca_cert.as_deref(), Some(ca_path.as_path()));
    assert!(config.sync.url.starts_with("https://"));
    tune_for_tests(&mut config);
    write_config(&config)?;
    pos_agent::prepare_database(&till_dir)?;
    let register = config.sync.register_id;
    let mut agent = TestAgent::start(config).await?;
    sell(&agent.till, &[(&CATALOG[0], 1)]).await?;
    agent
        .wait_uploaded(Duration::from_secs(30))
        .await
        .context("the sale uploads over https")?;
    let view = system_tests::harness::Oversight::new(&server)
        .register(chain.merchant_id(), register)
        .await?;
    assert_eq!(view.register.records, 1, "{view:?}");
    agent.stop().await?;

    // doctor checks the CA file and reaches the server through it.
    let doctor = pos_agent::doctor::doctor(&till_dir, None).await.to_string();
    assert!(
        doctor.contains(&format!(
            "✓ CA certificate: {}: 1 certificate(s)",
            ca_path.display()
        )),
        "{doctor}"
    );
    assert!(
        doctor.contains(&format!("✓ server {url}: reachable")),
        "{doctor}"
    );
    // A CA file that holds no certificate is a problem doctor names.
    std::fs::write(&ca_path, "not a certificate\n")?;
    let doctor = pos_agent::doctor::doctor(&till_dir, None).await;
    assert!(!doctor.passed());
    assert!(doctor.to_string().contains("✗ CA certificate:"), "{doctor}");

    // Plain HTTP to the HTTPS port fails cleanly, and the server goes on.
    let plain = url.replacen("https://", "http://", 1);
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?
        .get(format!("{plain}/health"))
        .send()
        .await;
    match answer {
        Err(e) => assert!(!e.is_timeout(), "a plain request must fail at once: {e}"),
        Ok(r) => assert!(
            !r.status().is_success(),
            "plain HTTP must not be served: {}",
            r.status()
        ),
    }
    // A client that does not trust the CA is refused in the handshake.
    let untrusting = reqwest::Client::new()
        .get(format!("{url}/health"))
        .send()
        .await;
    assert!(untrusting.is_err(), "{untrusting:?}");
    let health = server.http()?.get(format!("{url}/health")).send().await?;
    assert!(health.status().is_success());
    Ok(())
}
