//! The control socket against hand-made requests, as any process of the owner could
//! send them: a real satker node on a real sled store, a real Unix socket.

use std::{path::Path, time::Duration};

use sync_protocol::SecretKey;
use tokio::io::AsyncReadExt;

use super::*;
use crate::{cli::Draft, config::NodeConfig};

fn satker(dir: &Path) -> Arc<Node> {
    let config = NodeConfig::Satker {
        satker: "123456".into(),
        hub: "127.0.0.1:9".into(),
        hub_id: SecretKey::generate().public(),
    };
    Arc::new(Node::create(dir, config, None).unwrap().0)
}

/// Serves the control socket of `node` until the runtime ends; returns its path.
async fn serving(node: &Arc<Node>) -> std::path::PathBuf {
    let path = node.dir.join(SOCKET_NAME);
    tokio::spawn(serve_control(node.clone()));
    for _ in 0..500 {
        if UnixStream::connect(&path).await.is_ok() {
            return path;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the control socket never answered");
}

/// Sends `bytes` as one request and returns the answer's error, if any.
async fn answer(path: &Path, bytes: &[u8]) -> Response {
    let stream = UnixStream::connect(path).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    w.write_all(bytes).await.unwrap();
    let mut text = String::new();
    r.read_to_string(&mut text).await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("answer {text:?}: {e}"))
}

fn request(command: Command, upload: Option<Upload>) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(&Request {
        command,
        passphrase: None,
        upload,
    })
    .unwrap();
    bytes.push(b'\n');
    bytes
}

async fn new_draft(node: &Arc<Node>) -> String {
    let out = execute(
        node.clone(),
        Command::Draft(Draft::New {
            kind: "spm".into(),
            set: vec![],
        }),
        &Secrets::default(),
        false,
    )
    .await
    .unwrap();
    out.json["doc_id"].as_str().unwrap().to_string()
}

async fn attachments(node: &Arc<Node>, doc_id: &str) -> serde_json::Value {
    let out = execute(
        node.clone(),
        Command::Draft(Draft::Show {
            doc_id: doc_id.into(),
        }),
        &Secrets::default(),
        false,
    )
    .await
    .unwrap();
    out.json["attachments"].clone()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_request_over_the_cap_is_refused_naming_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let node = satker(&tmp.path().join("node"));
    runtime().block_on(async {
        let path = serving(&node).await;
        let resp = answer(&path, &vec![b' '; MAX_REQUEST_BYTES + 1]).await;
        let err = resp.error.expect("an error");
        assert!(
            err.contains("larger than") && err.contains(&MAX_REQUEST_BYTES.to_string()),
            "{err}"
        );
    });
}

#[test]
fn an_attach_request_without_the_files_contents_reads_no_path_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let node = satker(&tmp.path().join("node"));
    // A valid PDF that the serving node could read if it took the path.
    let file = tmp.path().join("scan.pdf");
    std::fs::write(&file, b"%PDF-1.7\n%%EOF\n").unwrap();
    runtime().block_on(async {
        let path = serving(&node).await;
        let doc_id = new_draft(&node).await;
        let cmd = Command::Draft(Draft::Attach {
            doc_id: doc_id.clone(),
            file,
        });
        let err = answer(&path, &request(cmd, None))
            .await
            .error
            .expect("an error");
        assert!(err.contains("without the file's contents"), "{err}");
        assert_eq!(attachments(&node, &doc_id).await, serde_json::json!([]));
    });
}

#[test]
fn an_attach_request_carrying_a_bad_upload_is_refused_by_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let node = satker(&tmp.path().join("node"));
    runtime().block_on(async {
        let path = serving(&node).await;
        let doc_id = new_draft(&node).await;
        let attach = |name: &str, bytes: &[u8]| {
            request(
                Command::Draft(Draft::Attach {
                    doc_id: doc_id.clone(),
                    file: "ignored".into(),
                }),
                Some(Upload {
                    name: name.into(),
                    bytes: bytes.to_vec(),
                }),
            )
        };
        for (name, bytes, why) in [
            ("catatan.pdf", &b"catatan\n"[..], "plain text"),
            ("../node.key", &b"%PDF-1.7\n"[..], "not a file name"),
            ("kosong.pdf", &b""[..], "is empty"),
        ] {
            let err = answer(&path, &attach(name, bytes))
                .await
                .error
                .expect("an error");
            assert!(err.contains(why), "{name}: {err}");
        }
        assert_eq!(attachments(&node, &doc_id).await, serde_json::json!([]));
        // The same request with a PDF goes through, under the name it carries.
        let ok = answer(&path, &attach("sk.pdf", b"%PDF-1.7\n%%EOF\n")).await;
        assert!(ok.error.is_none(), "{:?}", ok.error);
        assert_eq!(attachments(&node, &doc_id).await[0]["name"], "sk.pdf");
    });
}
