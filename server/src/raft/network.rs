//! The sending side of Raft RPCs: openraft's network traits over [`InternalClient`].

use super::rpc::{self, RemoteResult, SnapshotHeader};
use super::snapshot::SnapshotFile;
use super::{TypeConfig, Vote};
use crate::codec::{decode, encode};
use crate::peer::client::{CallError, InternalClient};
use bytes::Bytes;
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetworkV2};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;

/// Chunk size of a streamed snapshot.
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// Creates a [`Peer`] per target node; all share one pooled client.
#[derive(Clone)]
pub struct NetworkFactory {
    /// This node's id (reported in timeouts).
    pub source: u64,
    pub client: InternalClient,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            source: self.source,
            target,
            addr: node.addr.clone(),
            client: self.client.clone(),
        }
    }
}

/// The connection to one peer.
pub struct Peer {
    source: u64,
    target: u64,
    addr: String,
    client: InternalClient,
}

impl Peer {
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        (path, action): (&str, RPCTypes),
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let body = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let ttl = option.hard_ttl();
        let (status, bytes) = self
            .client
            .post(&self.addr, path, &[], Bytes::from(body), ttl)
            .await
            .map_err(|e| self.rpc_error(e, action, ttl))?;
        decode_remote(status, &bytes)
            .map_err(|msg| RPCError::Network(NetworkError::from_string(msg)))
    }

    fn rpc_error(&self, e: CallError, action: RPCTypes, ttl: Duration) -> RPCError<TypeConfig> {
        match e {
            CallError::Timeout { .. } => RPCError::Timeout(Timeout {
                action,
                id: self.source,
                target: self.target,
                timeout: ttl,
            }),
            CallError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        }
    }
}

/// Least time an append-entries that carries entries may take. openraft allows every
/// append its heartbeat interval (100 ms by default); a busy node misses that on a large
/// append, after it has stored the entries, and the leader then sends the same entries
/// again and again, doubling the load that made the node slow. Heartbeats (no entries)
/// keep the short limit.
const APPEND_WITH_ENTRIES_TIMEOUT: Duration = Duration::from_secs(5);

/// The RPC option an append-entries request is sent with.
fn append_option(rpc: &AppendEntriesRequest<TypeConfig>, option: RPCOption) -> RPCOption {
    if rpc.entries.is_empty() {
        option
    } else {
        RPCOption::new(option.hard_ttl().max(APPEND_WITH_ENTRIES_TIMEOUT))
    }
}

/// Decodes a `RemoteResult` answer; any failure becomes a message.
fn decode_remote<Resp: DeserializeOwned>(
    status: http::StatusCode,
    bytes: &[u8],
) -> Result<Resp, String> {
    if !status.is_success() {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(bytes)
        ));
    }
    let remote: RemoteResult<Resp> = decode(bytes).map_err(|e| e.to_string())?;
    remote
}

impl RaftNetworkV2<TypeConfig> for Peer {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let option = append_option(&rpc, option);
        self.call((rpc::APPEND, RPCTypes::AppendEntries), &rpc, &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call((rpc::VOTE, RPCTypes::Vote), &rpc, &option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call((rpc::PRE_VOTE, RPCTypes::Vote), &rpc, &option)
            .await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(
            (rpc::TRANSFER_LEADER, RPCTypes::TransferLeader),
            &req,
            &option,
        )
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: openraft::alias::SnapshotOf<TypeConfig, SnapshotFile>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let header = rpc::encode_snapshot_header(&SnapshotHeader {
            vote,
            meta: snapshot.meta.clone(),
        })
        .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let file = tokio::fs::File::open(&snapshot.snapshot.path)
            .await
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let chunks = futures::stream::unfold(file, |mut file| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; SNAPSHOT_CHUNK];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        });
        let body = futures::stream::once(async move { Ok(header) }).chain(chunks);
        use futures::StreamExt;
        let ttl = option.hard_ttl().max(Duration::from_secs(600));
        let send = self
            .client
            .post_stream(&self.addr, rpc::SNAPSHOT, body, ttl);
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            result = send => {
                let (status, bytes) = result.map_err(|e| match e {
                    CallError::Timeout { .. } => StreamingError::Unreachable(Unreachable::new(&e)),
                    CallError::Unreachable { .. } => StreamingError::Unreachable(Unreachable::new(&e)),
                })?;
                decode_remote(status, &bytes).map_err(|msg| StreamingError::Network(NetworkError::from_string(msg)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::entry::RaftEntry;
    use openraft::testing::log_id;

    fn append(entries: Vec<super::super::Entry>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new(1, 1),
            prev_log_id: None,
            entries,
            leader_commit: None,
        }
    }

    #[test]
    fn appends_with_entries_get_time_to_be_stored_and_heartbeats_keep_theirs() {
        let heartbeat = Duration::from_millis(100);
        let empty = append_option(&append(Vec::new()), RPCOption::new(heartbeat));
        assert_eq!(empty.hard_ttl(), heartbeat);
        let entry = super::super::Entry::new_blank(log_id::<TypeConfig>(1, 1, 1));
        let loaded = append_option(&append(vec![entry]), RPCOption::new(heartbeat));
        assert_eq!(loaded.hard_ttl(), APPEND_WITH_ENTRIES_TIMEOUT);
    }
}
