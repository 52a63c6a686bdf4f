//! TLS offers 1.2 and 1.3 only (issue #7.5), told by an outside client: `openssl s_client`
//! tries each version against the HTTPS listener and the CoT TLS listener. It needs the
//! `openssl` command, so the plain `cargo test` leaves it out: `.ci/run` installs it and runs
//! `cargo test --features interop-tests --test tls_versions`. Without the command it fails.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;

use common::{TestApp, TestDb};

/// What `openssl s_client` made of a handshake at one version: whether it completed, and
/// everything it printed.
fn handshake(addr: SocketAddr, version: &str) -> (bool, String) {
    let out = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "localhost",
            version,
            // OpenSSL 3 will not even offer TLS 1.0 or 1.1 at its default security level; at
            // level 0 it does, so a refusal is the server's.
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("the openssl command runs (install it: apt-get install openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // `New, TLSv1.3, Cipher is ...` is printed once the handshake completes; the session block
    // (`Protocol  : TLSv1.3`) only if a TLS 1.3 session ticket arrives before s_client exits,
    // which is a matter of timing. Either names the version that was negotiated.
    let negotiated = match version {
        "-tls1_3" => "TLSv1.3",
        "-tls1_2" => "TLSv1.2",
        "-tls1_1" => "TLSv1.1",
        _ => "TLSv1,",
    };
    let named = text.contains(&format!("New, {negotiated}"))
        || text.contains(&format!("Protocol  : {negotiated}"))
        || text.contains(&format!("Protocol: {negotiated}"));
    let done = out.status.success()
        && named
        && text.contains("Cipher is ")
        && !text.contains("Cipher is (NONE)");
    (done, text)
}

/// The client sent its hello at the old version and the server answered with a TLS alert
/// (rustls says `handshake failure` or `protocol version`): the refusal is the server's, not
/// the client's own.
fn refused_by_server(text: &str) -> bool {
    text.contains("CONNECTED(")
        && text.contains("SSL alert number")
        && (text.contains("alert handshake failure") || text.contains("alert protocol version"))
        && text.contains("Cipher is (NONE)")
}

fn check(addr: SocketAddr, what: &str) {
    for version in ["-tls1_2", "-tls1_3"] {
        let (done, text) = handshake(addr, version);
        assert!(done, "{what}: {version} must be accepted:\n{text}");
    }
    for version in ["-tls1_1", "-tls1"] {
        let (done, text) = handshake(addr, version);
        assert!(!done, "{what}: {version} must be refused:\n{text}");
        assert!(
            refused_by_server(&text),
            "{what}: {version} failed for another reason than the version:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_cot_tls_accept_only_tls_1_2_and_1_3() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let db = TestDb::new(common::Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.http.tls_cert = Some(cert.clone());
    config.http.tls_key = Some(key.clone());
    config.cot.tls_addr = Some("127.0.0.1:0".into());
    config.cot.tls_cert = Some(cert.clone());
    config.cot.tls_key = Some(key);
    config.cot.client_ca = Some(cert);
    let app = TestApp::spawn_with(db, config).await;
    let (http, cot) = (app.addr, app.cot_tls_addr.expect("CoT TLS is on"));
    tokio::task::spawn_blocking(move || {
        check(http, "HTTPS");
        // The CoT listener asks for a client certificate; the version is settled before that.
        for version in ["-tls1_1", "-tls1"] {
            let (done, text) = handshake(cot, version);
            assert!(!done, "CoT TLS: {version} must be refused:\n{text}");
            assert!(
                refused_by_server(&text),
                "CoT TLS: {version} failed for another reason than the version:\n{text}"
            );
        }
    })
    .await
    .unwrap();
    app.stop().await;
}
