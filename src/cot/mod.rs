//! Cursor on Target for TAK clients (ATAK, WinTAK, pytak): the codecs, the framing, the mapping
//! between items and CoT, and the TCP, TLS and UDP listeners.
//!
//! The codecs are pure functions over bytes (`xml::parse_event`, `proto::decode_payload`,
//! `proto::decode_mesh`, `stream::StreamReader`, `stream::decode_datagram`), so fuzz targets and
//! tests need no runtime.
//! `mapping` gives CoT its meaning here and is documented in `proto/COT.md`. Only `listener`
//! does IO. Invariant: every outbound event is rendered from `feature::render(item, view)` with
//! the view `Policy::decide` gives the connection's viewer, so CoT shows exactly what REST and
//! the WebSocket show that viewer; and every inbound change goes through `Writer::submit` after
//! the same checks as REST.

pub mod listener;
pub mod mapping;
pub mod proto;
pub mod stream;
pub mod xml;

pub use xml::{CotError, CotEvent};
