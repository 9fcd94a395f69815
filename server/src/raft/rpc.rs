//! Raft RPCs on the internal port: paths, wire encoding and the receiving side.
//!
//! Requests and responses are postcard-encoded. A handler's failure travels as
//! `Err(String)` and becomes a network error on the caller, which openraft retries.

use super::snapshot::{self, SnapshotFile};
use super::state_machine::StateMachineStore;
use super::{Raft, SnapshotMeta, TypeConfig, Vote};
use crate::codec::{decode, encode};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::storage::Snapshot;
use serde::{Deserialize, Serialize};
use std::io;
use tokio::io::AsyncWriteExt;

pub const APPEND: &str = "/raft/append";
pub const VOTE: &str = "/raft/vote";
pub const PRE_VOTE: &str = "/raft/pre-vote";
pub const SNAPSHOT: &str = "/raft/snapshot";
pub const TRANSFER_LEADER: &str = "/raft/transfer-leader";

/// What a Raft RPC handler answers.
pub type RemoteResult<T> = Result<T, String>;

/// Header of a streamed snapshot, sent before the file's bytes.
#[derive(Serialize, Deserialize)]
pub struct SnapshotHeader {
    pub vote: Vote,
    pub meta: SnapshotMeta,
}

/// Encodes a snapshot header as `u32 length (LE)` + postcard bytes.
pub fn encode_snapshot_header(header: &SnapshotHeader) -> io::Result<Bytes> {
    let body = encode(header)?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out.into())
}

/// Dispatches a non-streaming Raft RPC; returns the encoded `RemoteResult`.
pub async fn handle(raft: &Raft, path: &str, body: &[u8]) -> io::Result<Vec<u8>> {
    match path {
        APPEND => {
            let req: AppendEntriesRequest<TypeConfig> = decode(body)?;
            encode(&raft.append_entries(req).await.map_err(|e| e.to_string()))
        }
        VOTE => {
            let req: VoteRequest<TypeConfig> = decode(body)?;
            encode(&raft.vote(req).await.map_err(|e| e.to_string()))
        }
        PRE_VOTE => {
            let req: VoteRequest<TypeConfig> = decode(body)?;
            encode(&raft.pre_vote(req).await.map_err(|e| e.to_string()))
        }
        TRANSFER_LEADER => {
            let req: TransferLeaderRequest<TypeConfig> = decode(body)?;
            encode(
                &raft
                    .handle_transfer_leader(req)
                    .await
                    .map_err(|e| e.to_string()),
            )
        }
        other => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no raft rpc at {other}"),
        )),
    }
}

/// Receives a streamed snapshot into the snapshot directory, verifies it and installs it.
pub async fn receive_snapshot<S, E>(
    raft: &Raft,
    sm: &StateMachineStore,
    mut body: S,
) -> io::Result<Vec<u8>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let path = sm.incoming_snapshot_path();
    let result = async {
        let mut file = tokio::fs::File::create(&path).await?;
        let mut header_buf: Vec<u8> = Vec::new();
        let mut header: Option<SnapshotHeader> = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| io::Error::other(format!("snapshot stream: {e}")))?;
            if header.is_some() {
                file.write_all(&chunk).await?;
                continue;
            }
            header_buf.extend_from_slice(&chunk);
            if header_buf.len() >= 4 {
                let len = u32::from_le_bytes(header_buf[..4].try_into().expect("4 bytes")) as usize;
                if header_buf.len() >= 4 + len {
                    header = Some(decode(&header_buf[4..4 + len])?);
                    file.write_all(&header_buf[4 + len..]).await?;
                }
            }
        }
        let header = header.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "snapshot without header")
        })?;
        file.sync_all().await?;
        drop(file);
        let verify_path = path.clone();
        let meta = tokio::task::spawn_blocking(move || snapshot::verify(&verify_path))
            .await
            .map_err(|e| io::Error::other(format!("verify task: {e}")))??;
        if meta != header.meta {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snapshot metadata does not match its header",
            ));
        }
        let snapshot = Snapshot {
            meta,
            snapshot: SnapshotFile { path: path.clone() },
        };
        let response = raft
            .install_full_snapshot(header.vote, snapshot)
            .await
            .map_err(|e| e.to_string());
        encode(&response)
    }
    .await;
    if path.exists() {
        // Not consumed by an install (rejected or failed): drop the partial file.
        let _ = tokio::fs::remove_file(&path).await;
    }
    result
}
