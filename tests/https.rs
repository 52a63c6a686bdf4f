//! The API over HTTPS (rustls) with a certificate made in the test.

mod common;

use cmcop::model::Role;
use common::{Backend, TestApp, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    std::fs::write(&key_path, ck.signing_key.serialize_pem()).unwrap();

    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.http.tls_cert = Some(cert_path);
    config.http.tls_key = Some(key_path);
    let mut app = TestApp::spawn_with(db, config).await;
    let token = app.token(Role::CivilLiaison, "NRC").await;

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", app.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/api/v1/picture", app.addr.port());
    let resp = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("an HTTPS answer");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);

    // Plain HTTP to the TLS port gets no API answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", app.addr))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    app.stop().await;
}
