//! `GET /takproto/1`: TAK protocol v1 over WebSocket, at the path TAK Server offers it to
//! WebTAK and other clients (`proto/COT.md`).
//!
//! Each binary frame carries TAK protocol v1 *streaming* messages (`0xBF`, a varint length, a
//! `TakMessage`); there is no XML negotiation, the connection is in protobuf from the start.
//! Authenticated like the hub (`Authorization: Bearer` or a one-use `?ticket=`), counted in the
//! same per-token cap. Behind the upgrade the connection is an ordinary CoT connection
//! (`cot::listener::serve_tak_stream`) on an in-memory pipe: the same policy, mapping, write
//! path and relay as the TCP and TLS listeners. Two pumps join the pipe to the socket: frames'
//! payloads in, and out one binary frame per TAK message.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ws::WsQuery;
use super::{ApiError, ApiResult, AppState, Peer};
use crate::auth::Identity;
use crate::cot::proto;

/// The pipe between the socket and the CoT connection.
const PIPE_BYTES: usize = 64 * 1024;
/// How long the connection may take to finish once the client has gone.
const CLOSE_GRACE: Duration = Duration::from_secs(15);
/// Close codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_TRY_AGAIN: u16 = 1013;

pub async fn upgrade(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let who = query.identify(&state, &headers, peer).await?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::BadRequest(format!(
            "this route speaks WebSocket only: {}",
            e.body_text()
        ))
    })?;
    let cap = state.config.hub.max_connections_per_token;
    let guard = state
        .connections
        .acquire(&who.token_id, cap)
        .ok_or_else(|| {
            ApiError::TooMany(format!(
                "this token has {cap} WebSocket connections open already"
            ))
        })?;
    // Refused before the upgrade, so the client reads why in an HTTP answer (503) rather
    // than from an upgraded socket that closes at once.
    let slot = crate::cot::listener::cot_slot(&state.cot.shared).ok_or_else(|| {
        ApiError::Unavailable("too many CoT connections are open; try again later".into())
    })?;
    // A frame holds at most one event of the CoT size limit, with its framing.
    let max = state.config.cot.max_event_kib * 1024 + 16;
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        // One frame at a time, within the connection's budget (`hub.connection_budget_kib`).
        .max_write_buffer_size(state.config.hub.write_buffer_bytes())
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            serve(state, who, socket, slot).await;
            drop(guard);
        }))
}

/// The length of the first complete TAK streaming message in `buf`, if there is one.
fn complete_message(buf: &[u8]) -> Option<usize> {
    let (&magic, rest) = buf.split_first()?;
    if magic != proto::MAGIC {
        // The connection writes only framed messages; anything else is passed on whole.
        return Some(buf.len());
    }
    let (len, used) = proto::read_varint(rest).ok().flatten()?;
    let total = 1 + used + usize::try_from(len).ok()?;
    (buf.len() >= total).then_some(total)
}

async fn serve(
    state: AppState,
    who: Identity,
    socket: WebSocket,
    slot: crate::cot::listener::CotSlot,
) {
    let (mut sink, mut frames) = socket.split();
    let (client, server) = tokio::io::duplex(PIPE_BYTES);
    let (mut from_conn, mut to_conn) = tokio::io::split(client);
    let peer = format!("websocket {}", who.name);

    // Frames in: their payloads, concatenated, are the stream the connection reads.
    let inbound = async move {
        while let Some(Ok(msg)) = frames.next().await {
            let bytes = match msg {
                Message::Binary(b) => b,
                // Not TAK: the connection's reader counts it as garbage.
                Message::Text(t) => t.as_bytes().to_vec().into(),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if to_conn.write_all(&bytes).await.is_err() {
                break;
            }
        }
        // End of stream: the connection sees its peer close.
        let _ = to_conn.shutdown().await;
    };

    // Out: one binary frame per TAK message, then a close frame when the connection ends.
    let outbound = async move {
        let mut buf = BytesMut::with_capacity(PIPE_BYTES);
        let mut reason = (CLOSE_NORMAL, "bye");
        loop {
            match from_conn.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            while let Some(n) = complete_message(&buf) {
                let frame = buf.split_to(n).freeze();
                if sink.send(Message::Binary(frame)).await.is_err() {
                    return;
                }
            }
        }
        if !buf.is_empty() {
            reason = (CLOSE_TRY_AGAIN, "connection ended mid-message");
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: reason.0,
                reason: reason.1.into(),
            })))
            .await;
    };

    let conn = crate::cot::listener::serve_tak_stream(state.cot.clone(), who, peer, server, slot);
    let mut both = std::pin::pin!(async { tokio::join!(conn, outbound) });
    let mut inbound = std::pin::pin!(inbound);
    tokio::select! {
        _ = &mut both => {}
        _ = &mut inbound => {
            let _ = tokio::time::timeout(CLOSE_GRACE, &mut both).await;
        }
    }
}
