//! cmcop: a civil-military common operational picture server.
//!
//! Humanitarian movements, access constraints and security incidents in one live picture, each
//! viewer seeing what the sharing policy allows. See ARCHITECTURE.md for the map of modules;
//! the binary (`main.rs`) only parses the command line and calls in here.

pub mod access;
pub mod admin;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod cot;
pub mod demo;
pub mod desk;
pub mod document;
pub mod export;
pub mod feature;
pub mod federation;
pub mod figures;
pub mod gazetteer;
pub mod guard;
pub mod hub;
pub mod import;
pub mod log;
pub mod message;
pub mod metrics;
pub mod model;
pub mod picture;
pub mod policy;
pub mod priorities;
pub mod replay;
pub mod report;
pub mod roads;
pub mod scope;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod tls;
pub mod web;
pub mod writer;

pub use config::Config;
pub use server::Application;

/// Sets up tracing: a filter (`log.filter`, or `CMCOP_LOG`) and human or JSON lines.
pub fn init_logging(config: &config::LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|e| {
        eprintln!(
            "log filter `{}` is invalid ({e}); using `info`",
            config.filter
        );
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
