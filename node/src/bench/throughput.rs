//! Throughput scenarios: one satker delivering to the hub (`ingest`), several at once
//! (`fanin`), and a second device of a satker pulling its whole stream (`pull`).

use std::{sync::Arc, time::Instant};

use serde_json::json;

use super::{
    fixture::{certify_signer, generate, hub_and_satker, temp_root, Hub, FIRST_SATKER},
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

/// `satkers` satkers deliver `docs` documents between them to one hub concurrently.
pub(super) async fn fanin(docs: usize, satkers: usize, doc_bytes: usize) -> Result<Output> {
    let root = temp_root()?;
    let hub = Hub::start(&root.path().join("hub"))?;
    let mut nodes = Vec::with_capacity(satkers);
    for i in 0..satkers {
        let code = (FIRST_SATKER + i as u32).to_string();
        let node = hub
            .satker(&root.path().join(format!("satker-{}", i + 1)), &code)
            .await?;
        let signer = certify_signer(&hub, &node).await?;
        let share = docs / satkers + usize::from(i < docs % satkers);
        generate(&node, &signer, share, doc_bytes)?;
        nodes.push(node);
    }
    let befores = nodes
        .iter()
        .map(|n| marks(&hub.node, n))
        .collect::<Result<Vec<_>>>()?;
    let hub = Arc::new(hub);
    let started = Instant::now();
    let tasks: Vec<_> = nodes
        .iter()
        .map(|n| {
            let (n, hub) = (n.clone(), hub.clone());
            tokio::spawn(async move { sync(&n, &hub).await })
        })
        .collect();
    let mut runs = Vec::with_capacity(tasks.len());
    for t in tasks {
        runs.push(
            t.await.map_err(|e| {
                NodeError::Transport(format!("a benchmark sync task failed: {e}"))
            })??,
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let (mut items, mut payload_bytes) = (0, 0);
    for (n, before) in nodes.iter().zip(befores) {
        check_delivered(&hub.node, n)?;
        let after = marks(&hub.node, n)?;
        let (i, b) = payload(&hub.node, n, before, after)?;
        items += i;
        payload_bytes += b;
    }
    let mut out = report(Figures {
        scenario: "fanin",
        docs,
        what: format!("{satkers} satkers delivered {docs} documents to one hub concurrently"),
        seconds,
        wire_bytes: runs.iter().map(wire_bytes).sum(),
        payload_bytes,
        items,
        flights: runs.iter().map(|r| r.wire.round_trips).max().unwrap_or(0),
    });
    out.json["satkers"] = json!(satkers);
    out.text
        .push_str("\n(round trips: the most any one satker needed)");
    Ok(out)
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
