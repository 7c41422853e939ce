//! The node's error type: every failure a user or a peer can cause, in plain words.

use thiserror::Error;

/// What went wrong, phrased for the person at the terminal.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The user asked for something that cannot be done as asked.
    #[error("{0}")]
    User(String),
    /// TLS configuration or certificate handling failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The hub could not be reached.
    #[error("cannot reach the hub at {addr}: {detail}. Check the link and the address, or try again later")]
    Unreachable {
        /// The address tried.
        addr: String,
        /// What the connection attempt said.
        detail: String,
    },
    /// The peer is not who it should be, or refused us.
    #[error("{0}")]
    Refused(String),
    /// The connection broke or the peer sent something unusable.
    #[error("sync failed: {0}")]
    Transport(String),
    /// The peer broke the protocol.
    #[error(transparent)]
    Protocol(#[from] sync_protocol::ProtocolError),
    /// What a person typed is the start of several identifiers.
    #[error("'{typed}' is the start of more than one {what}: {}{}; type more of the one you mean", matches.join(", "), if *more { ", …" } else { "" })]
    Ambiguous {
        /// What kind of identifier (`enrolled device`, `certificate request`, …).
        what: &'static str,
        /// What was typed.
        typed: String,
        /// The identifiers it starts, at most ten.
        matches: Vec<String>,
        /// Whether there are more than those listed.
        more: bool,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] storage::StoreError),
    /// Local IO failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The IO error.
        source: std::io::Error,
    },
}

impl NodeError {
    /// A user error with a message.
    pub fn user(msg: impl Into<String>) -> Self {
        NodeError::User(msg.into())
    }

    /// The store's files are damaged on disk (restoring a backup is the remedy).
    pub fn store_damage(&self) -> Option<&storage::StoreError> {
        match self {
            NodeError::Store(e) if e.is_damage() => Some(e),
            _ => None,
        }
    }

    /// An IO error with what was being done.
    pub fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
        let action = action.into();
        move |source| NodeError::Io { action, source }
    }
}

/// Result with [`NodeError`].
pub type Result<T, E = NodeError> = std::result::Result<T, E>;
