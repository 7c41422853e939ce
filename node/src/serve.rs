//! `espm serve`: the hub's listener, or a satker's and auditor's background sync, plus
//! the control socket, until interrupted. The rules live in the rooms it starts.

use std::{net::SocketAddr, sync::Arc};

use crate::{
    config::NodeConfig,
    control::{serve_control, SOCKET_NAME},
    device::sync::client_loop,
    error::{NodeError, Result},
    hub::admit::{expiry_sweep, hub_loop},
    node::Node,
};

/// Runs the node until Ctrl-C or SIGTERM; a satker given `listen` (IP:port) also
/// answers auditors in its scope there.
pub async fn serve(node: Arc<Node>, listen: Option<&str>) -> Result<()> {
    let auditors = match listen {
        None => None,
        Some(a) => {
            node.require_satker("espm serve --listen")?;
            Some(a.parse::<SocketAddr>().map_err(|_| {
                NodeError::user(format!(
                    "--listen '{a}' is not IP:port; give the address auditors dial, such as 0.0.0.0:4434"
                ))
            })?)
        }
    };
    tracing::info!("{}", starting(&node));
    let control = tokio::spawn(serve_control(node.clone()));
    // Ends only if its endpoint fails; the background sync goes on regardless.
    let auditors =
        auditors.map(|addr| tokio::spawn(crate::satker::listen::listen(node.clone(), addr)));
    let auditors = async move {
        match auditors {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    };
    let work = match &node.config {
        NodeConfig::Hub(h) => {
            let addr: SocketAddr = h.listen.parse().map_err(|_| {
                NodeError::user(format!(
                    "the configured listen address '{}' is not IP:port",
                    h.listen
                ))
            })?;
            tokio::spawn(expiry_sweep(node.clone(), h.attachment_expiry_ms));
            tokio::spawn(hub_loop(node.clone(), addr))
        }
        _ => tokio::spawn(client_loop(node.clone())),
    };
    let outcome = tokio::select! {
        r = work => r.unwrap_or_else(|e| Err(NodeError::Transport(format!("the node task failed: {e}")))),
        r = control => r.unwrap_or_else(|e| Err(NodeError::Transport(format!("the control socket failed: {e}")))),
        r = auditors => r.unwrap_or_else(|e| Err(NodeError::Transport(format!("the listener for auditors failed: {e}")))),
        _ = shutdown_signal() => Ok(()),
    };
    let _ = std::fs::remove_file(node.dir.join(SOCKET_NAME));
    node.store.flush()?;
    outcome
}

/// What `espm serve` says when it starts: its role, what it serves and where.
fn starting(node: &Node) -> String {
    let id = node.node_id().to_hex();
    match &node.config {
        NodeConfig::Hub(h) => format!(
            "espm serve: hub of KPPN {} ({}), node {id}, starting on UDP {}",
            h.kppn, h.name, h.listen
        ),
        NodeConfig::Satker { satker, hub, .. } => format!(
            "espm serve: satker {satker} device {id}, syncing with the hub at {hub} in the background"
        ),
        NodeConfig::Auditor { hub, .. } => format!(
            "espm serve: auditor {id}, reading from the hub at {hub} in the background"
        ),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
