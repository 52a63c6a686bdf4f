//! `cmcop import FORMAT FILE`: posts the file to a running server's
//! `POST /api/v1/import/{format}` with an API token, and prints the answer.
//!
//! It never writes to the store itself: the server's single writer owns the log (its hash
//! chain, its `seq`), and its gate judges every row for the token's role and organisation,
//! exactly as for a file posted over the API. A server must therefore be running.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

/// What `cmcop import` was asked.
pub struct ImportRequest<'a> {
    /// `http(s)://host:port`.
    pub server: &'a str,
    pub format: &'a str,
    pub file: &'a Path,
    pub marking: &'a str,
    pub token: &'a str,
    /// A PEM CA certificate for a server whose certificate a private CA signed.
    pub ca: Option<&'a Path>,
}

/// Posts the file; prints what was imported, or every refused row. Exit 0 on success, 1 when
/// the server refused the file (nothing was written), an error when it could not be asked.
pub async fn import(r: ImportRequest<'_>) -> anyhow::Result<ExitCode> {
    let body = tokio::fs::read(r.file)
        .await
        .with_context(|| format!("cannot read {}", r.file.display()))?;
    let mut client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(300));
    if let Some(ca) = r.ca {
        let pem = tokio::fs::read(ca)
            .await
            .with_context(|| format!("cannot read {}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", ca.display()))?;
        client = client.add_root_certificate(cert);
    }
    let client = client.build().context("cannot build the HTTP client")?;
    let url = format!(
        "{}/api/v1/import/{}",
        r.server.trim_end_matches('/'),
        r.format
    );
    let resp = client
        .post(&url)
        .query(&[("marking", r.marking)])
        .bearer_auth(r.token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {}", r.server))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .context("the server's answer was cut off")?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        println!(
            "imported {} rows of {}: {} created, {} updated, {} unchanged, {} left out as \
             retired (log at seq {})",
            answer["rows"],
            r.file.display(),
            answer["created"],
            answer["updated"],
            answer["unchanged"],
            answer["retired"],
            answer["seq"]
        );
        for row in answer["left_out"].as_array().into_iter().flatten() {
            println!(
                "  left out: row {} (line {}): {}",
                row["row"],
                row["line"],
                row["message"].as_str().unwrap_or("")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let detail = answer["detail"].as_str().unwrap_or(text.as_str());
    eprintln!("refused ({}): {detail}", status.as_u16());
    for row in answer["rows"].as_array().into_iter().flatten() {
        let mut line = format!("row {} (line {})", row["row"], row["line"]);
        if let Some(id) = row["event_id"].as_str() {
            line.push_str(&format!(" event {id}"));
        }
        if let Some(c) = row["column"].as_str() {
            line.push_str(&format!(" {c}"));
        }
        eprintln!("  {line}: {}", row["message"].as_str().unwrap_or(""));
    }
    Ok(ExitCode::FAILURE)
}
