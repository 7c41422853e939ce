//! The local control socket: while `espm serve` owns the store, every other command on
//! the same data directory is sent here and executed by the running node, so the user
//! sees the same output either way. The socket is owner-only.

use std::{path::Path, sync::Arc};

use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
};
use zeroize::Zeroizing;

use crate::{
    cli::run::{execute, Output, Secrets},
    cli::Command,
    error::{NodeError, Result},
    node::Node,
    satker::upload::{Upload, MAX_ATTACHMENT_BYTES},
};

/// The socket's file name inside the data directory.
pub const SOCKET_NAME: &str = "control.sock";

/// Requests larger than this are refused. Commands are small; `draft attach` carries
/// its file, at most [`MAX_ATTACHMENT_BYTES`], as base64 (4/3 of it), and twice the cap
/// plus 1 MiB leaves room for that and the command around it.
pub const MAX_REQUEST_BYTES: usize = 2 * MAX_ATTACHMENT_BYTES as usize + (1 << 20);

#[derive(Serialize, Deserialize)]
struct Request {
    command: Command,
    passphrase: Option<String>,
    /// The file `draft attach` names, read by the CLI process.
    #[serde(default)]
    upload: Option<Upload>,
}

#[derive(Serialize, Deserialize)]
struct Response {
    output: Option<Output>,
    error: Option<String>,
}

/// Listens on the control socket until the task is dropped.
pub async fn serve_control(node: Arc<Node>) -> Result<()> {
    let path = node.dir.join(SOCKET_NAME);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(NodeError::io(format!(
        "cannot open control socket {}",
        path.display()
    )))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(
            NodeError::io("cannot restrict the control socket to its owner"),
        )?;
    }
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(NodeError::io("control socket accept"))?;
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(node, stream).await {
                tracing::warn!(error = %e, "control request failed");
            }
        });
    }
}

async fn handle(node: Arc<Node>, stream: UnixStream) -> Result<()> {
    let (r, mut w) = stream.into_split();
    // Bytes, not a String: a request cut at the cap may end inside a character.
    let mut line = Zeroizing::new(Vec::new());
    // One byte past the cap tells a request that is too large from one that fits.
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(
        r,
        MAX_REQUEST_BYTES as u64 + 1,
    ));
    reader
        .read_until(b'\n', &mut line)
        .await
        .map_err(NodeError::io("control socket read"))?;
    let parsed = if line.len() > MAX_REQUEST_BYTES {
        Err(format!(
            "control request refused: it is larger than {MAX_REQUEST_BYTES} bytes"
        ))
    } else {
        serde_json::from_slice::<Request>(&line)
            .map_err(|e| format!("malformed control request: {e}"))
    };
    let response = match parsed {
        Ok(req) => {
            let secrets = Secrets {
                passphrase: req.passphrase.map(Zeroizing::new),
                upload: req.upload,
            };
            match execute(node, req.command, &secrets, false).await {
                Ok(out) => Response {
                    output: Some(out),
                    error: None,
                },
                Err(e) => Response {
                    output: None,
                    error: Some(e.to_string()),
                },
            }
        }
        Err(e) => Response {
            output: None,
            error: Some(e),
        },
    };
    let mut bytes =
        serde_json::to_vec(&response).map_err(|e| NodeError::Transport(e.to_string()))?;
    bytes.push(b'\n');
    w.write_all(&bytes)
        .await
        .map_err(NodeError::io("control socket write"))?;
    w.shutdown()
        .await
        .map_err(NodeError::io("control socket write"))?;
    Ok(())
}

/// Sends a command to the node serving `dir`, if one is; `None` when none is running.
pub async fn forward(dir: &Path, command: &Command, secrets: &Secrets) -> Option<Result<Output>> {
    let path = dir.join(SOCKET_NAME);
    if !path.exists() {
        return None;
    }
    // A socket file left by a node that died refuses connections: open the store instead.
    let stream = UnixStream::connect(&path).await.ok()?;
    Some(send(stream, command, secrets).await)
}

async fn send(stream: UnixStream, command: &Command, secrets: &Secrets) -> Result<Output> {
    let (r, mut w) = stream.into_split();
    let req = Request {
        command: command.clone(),
        passphrase: secrets.passphrase.as_ref().map(|p| p.to_string()),
        upload: secrets.upload.clone(),
    };
    let mut bytes =
        Zeroizing::new(serde_json::to_vec(&req).map_err(|e| NodeError::Transport(e.to_string()))?);
    bytes.push(b'\n');
    w.write_all(&bytes)
        .await
        .map_err(NodeError::io("control socket write"))?;
    let mut line = String::new();
    BufReader::new(r)
        .read_line(&mut line)
        .await
        .map_err(NodeError::io("control socket read"))?;
    let resp: Response = serde_json::from_str(&line).map_err(|e| {
        NodeError::Transport(format!(
            "the serving node gave an unreadable answer ({e}); is it the same espm version?"
        ))
    })?;
    match (resp.output, resp.error) {
        (Some(o), _) => Ok(o),
        (None, Some(e)) => Err(NodeError::User(e)),
        (None, None) => Err(NodeError::Transport(
            "the serving node gave an empty answer".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
