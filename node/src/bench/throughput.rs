//! Throughput scenarios: one satker delivering to the hub (`ingest`) and a second device
//! of a satker pulling its whole stream (`pull`); many at once is [`super::fanin`].

use super::{
    fixture::{generate, hub_and_satker, temp_root},
    measure::{check_delivered, marks, payload, scope_of, sync, wire_bytes},
    report, Figures,
};
use crate::{
    cli::run::Output,
    error::{NodeError, Result},
};

/// One satker delivers `docs` documents to the hub in one sync.
pub(super) async fn ingest(docs: usize, doc_bytes: usize) -> Result<Output> {
    let root = temp_root()?;
    let (hub, satker, signer) = hub_and_satker(root.path()).await?;
    generate(&satker, &signer, docs, doc_bytes)?;
    let before = marks(&hub.node, &satker)?;
    let run = sync(&satker, &hub).await?;
    let after = marks(&hub.node, &satker)?;
    check_delivered(&hub.node, &satker)?;
    let (items, payload_bytes) = payload(&hub.node, &satker, before, after)?;
    Ok(report(Figures {
        scenario: "ingest",
        docs,
        what: format!("one satker delivered {docs} documents to the hub"),
        seconds: run.seconds,
        wire_bytes: wire_bytes(&run),
        payload_bytes,
        items,
        flights: run.wire.round_trips,
    }))
}

/// A second device of a satker pulls the `docs` documents the first one delivered.
pub(super) async fn pull(docs: usize, doc_bytes: usize) -> Result<Output> {
    let root = temp_root()?;
    let (hub, satker, signer) = hub_and_satker(root.path()).await?;
    generate(&satker, &signer, docs, doc_bytes)?;
    sync(&satker, &hub).await?;
    check_delivered(&hub.node, &satker)?;
    let code = satker.require_satker("bench")?.to_string();
    let second = hub.satker(&root.path().join("satker-1b"), &code).await?;
    let before = marks(&hub.node, &second)?;
    let run = sync(&second, &hub).await?;
    let after = marks(&hub.node, &second)?;
    let scope = scope_of(&second)?;
    if second.store.position(&scope)? != hub.node.store.head(&scope)? {
        return Err(NodeError::user(
            "bench: the second device did not receive all of its satker's stream",
        ));
    }
    let (items, payload_bytes) = payload(&hub.node, &second, before, after)?;
    Ok(report(Figures {
        scenario: "pull",
        docs,
        what: format!("a second device of the satker pulled {docs} documents from the hub"),
        seconds: run.seconds,
        wire_bytes: wire_bytes(&run),
        payload_bytes,
        items,
        flights: run.wire.round_trips,
    }))
}
