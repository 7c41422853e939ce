//! Every CLI command as a function of an open node, returning what to print. The
//! control socket calls the same functions, so output never depends on whether a node
//! is serving.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sync_protocol::{DeviceRole, NodeId};
use zeroize::Zeroizing;

use super::{
    render::{backup::BackupProgress, output, sync::ProgressLine, Kinds},
    setup, Certs, CertsArgs, Command, Devices, DevicesArgs, Draft, EnrollArgs, Init, Operator,
    Operators, OperatorsArgs, Signer,
};
use crate::{
    auditor::verify,
    backup,
    config::check_satker_code,
    device::{info, sync},
    docs,
    error::{NodeError, Result},
    hub::{authority, monitor, operators as hub_operators, processing, registry, revoke},
    node::Node,
    proof,
    satker::upload::Upload,
    satker::{documents, operators, signers, signing, submit, withdraw},
};

pub use super::setup::init;

/// What a command prints: one JSON document, or text for people.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    /// The `--json` document.
    pub json: serde_json::Value,
    /// The human-readable text.
    pub text: String,
    /// The command ran but found a failure to report (exit 1 with the output).
    #[serde(default)]
    pub failed: bool,
    /// What `-q` prints, when it is less than `text` (the answer without the chatter).
    #[serde(default)]
    pub answer: Option<String>,
    /// What `-v` prints, when it is more than `text`.
    #[serde(default)]
    pub detail: Option<String>,
}

impl Output {
    /// An output from a JSON value and its text form.
    pub fn new(json: serde_json::Value, text: impl Into<String>) -> Self {
        Output {
            json,
            text: text.into(),
            failed: false,
            answer: None,
            detail: None,
        }
    }

    /// The text to print at this verbosity: the answer alone under `-q`, the detail
    /// under `-v`, else the text.
    pub fn text_for(&self, quiet: bool, verbose: u8) -> &str {
        let pick = match (quiet, verbose) {
            (true, _) => self.answer.as_deref(),
            (false, 0) => None,
            (false, _) => self.detail.as_deref(),
        };
        pick.unwrap_or(&self.text)
    }
}

/// What the CLI process reads on the user's side and sends with the command: secrets
/// (terminal or environment, never argv) and the file to attach (read where the user
/// typed the command, so a serving node never resolves a path of its own).
#[derive(Default)]
pub struct Secrets {
    /// A signer's passphrase, or the CSO's for the registration authority's commands.
    pub passphrase: Option<Zeroizing<String>>,
    /// The file `draft attach` names, already read and checked.
    pub upload: Option<Upload>,
}

impl Secrets {
    /// The passphrase if one was given; the authority's commands say themselves what
    /// is missing.
    fn given(&self) -> Option<&str> {
        self.passphrase.as_deref().map(String::as_str)
    }

    fn passphrase(&self) -> Result<&str> {
        self.passphrase.as_deref().map(String::as_str).ok_or_else(|| {
            NodeError::user("this command needs the signer's passphrase: type it when asked, or set ESPM_PASSPHRASE")
        })
    }

    fn upload(&self) -> Result<&Upload> {
        self.upload.as_ref().ok_or_else(|| {
            NodeError::user("draft attach arrived without the file's contents, and this node never reads a path itself; run `espm draft attach DOC_ID FILE` with this version of espm")
        })
    }
}

/// Runs a command against an open node.
pub async fn execute(
    node: Arc<Node>,
    cmd: Command,
    secrets: &Secrets,
    show_progress: bool,
) -> Result<Output> {
    match cmd {
        Command::Init(_)
        | Command::Serve(_)
        | Command::Demo
        | Command::Bench(_)
        | Command::Restore(_) => Err(NodeError::user(
            "this command cannot run through a serving node",
        )),
        Command::Id => Ok(setup::id(&node)),
        Command::Info => Ok(output(&info::info(&node)?)),
        Command::Enroll(a) => {
            let (id, role) = parse_enroll(a)?;
            Ok(output(&authority::enroll(
                &node,
                id,
                role,
                secrets.given(),
            )?))
        }
        Command::Devices(DevicesArgs { action: None }) => Ok(output(&registry::devices(&node)?)),
        Command::Certs(CertsArgs { action: None }) => Ok(output(&registry::certs(&node)?)),
        Command::Devices(DevicesArgs {
            action: Some(Devices::Revoke { node_id, reason }),
        }) => {
            let id = crate::prefix::device(&node, &node_id)?;
            Ok(output(&revoke::device(
                &node,
                id,
                &reason,
                secrets.given(),
            )?))
        }
        Command::Certs(CertsArgs {
            action: Some(Certs::Requests),
        }) => Ok(output(&authority::requests(&node)?)),
        Command::Certs(CertsArgs {
            action: Some(Certs::Approve { request_id }),
        }) => Ok(output(&authority::approve(
            &node,
            &request_id,
            secrets.given(),
        )?)),
        Command::Certs(CertsArgs {
            action: Some(Certs::Revoke { serial, reason }),
        }) => Ok(output(&revoke::certificate(
            &node,
            &serial,
            &reason,
            secrets.given(),
        )?)),
        Command::Signer(Signer::Request {
            name,
            nip,
            nik,
            jabatan,
            email,
            unit,
            instansi,
        }) => Ok(output(&signers::request(
            &node,
            secrets.passphrase()?,
            signers::RequestArgs {
                name,
                nip,
                nik,
                jabatan,
                email,
                unit,
                instansi,
            },
        )?)),
        Command::Signers => Ok(output(&signers::list(&node)?)),
        Command::Operator(Operator::Add {
            username,
            role,
            sk_penunjukan,
        }) => Ok(output(&operators::add(
            &node,
            &username,
            &role,
            sk_penunjukan.as_deref(),
        )?)),
        Command::Operators(OperatorsArgs { action: None }) => match node.config {
            // The hub lists every satker's operators; a device lists its own.
            crate::config::NodeConfig::Hub(_) => Ok(output(&hub_operators::list(&node)?)),
            _ => Ok(output(&operators::list(&node)?)),
        },
        Command::Operators(OperatorsArgs {
            action: Some(Operators::Requests),
        }) => Ok(output(&hub_operators::requests(&node)?)),
        Command::Operators(OperatorsArgs {
            action: Some(Operators::Approve { request_id }),
        }) => Ok(output(&hub_operators::approve(
            &node,
            &request_id,
            secrets.given(),
        )?)),
        Command::Operators(OperatorsArgs {
            action:
                Some(Operators::Revoke {
                    username,
                    satker,
                    reason,
                }),
        }) => Ok(output(&hub_operators::revoke(
            &node,
            &username,
            &satker,
            &reason,
            secrets.given(),
        )?)),
        Command::Draft(Draft::New { kind, set }) => {
            Ok(output(&documents::new(&node, &kind, &set)?))
        }
        Command::Draft(Draft::Set { doc_id, fields }) => {
            Ok(output(&documents::set(&node, &doc_id, &fields)?))
        }
        Command::Draft(Draft::Attach { doc_id, .. }) => Ok(output(&documents::attach(
            &node,
            &doc_id,
            secrets.upload()?,
        )?)),
        Command::Draft(Draft::Show { doc_id }) => Ok(output(&documents::show(&node, &doc_id)?)),
        Command::Kinds(a) => Ok(output(&Kinds(crate::fields::kinds(
            &node,
            a.kind.as_deref(),
        )?))),
        Command::Draft(Draft::List { state }) => {
            Ok(output(&docs::list::list(&node, state.as_deref())?))
        }
        Command::Draft(Draft::Unset { doc_id, fields }) => {
            Ok(output(&documents::unset(&node, &doc_id, &fields)?))
        }
        Command::Draft(Draft::Detach { doc_id, sha256 }) => {
            Ok(output(&documents::detach(&node, &doc_id, &sha256)?))
        }
        Command::Sign(a) => Ok(output(&signing::sign(
            &node,
            &a.doc_id,
            &a.signer,
            secrets.passphrase()?,
            a.place.as_deref(),
        )?)),
        Command::Submit(a) => Ok(output(&submit::submit(
            &node,
            &a.doc_ids,
            &a.operator,
            &a.totp,
        )?)),
        Command::Withdraw(a) => Ok(output(&withdraw::withdraw(&node, &a.submission_id)?)),
        Command::Status(a) => Ok(output(&docs::journeys(&node, a.doc_id.as_deref())?)),
        Command::Inbox => Ok(output(&monitor::inbox(&node)?)),
        Command::Take(a) => Ok(output(&processing::take(&node, &a.doc_id)?)),
        Command::Advance(a) => {
            let stage = a.stage.parse()?;
            Ok(output(&processing::advance(&node, &a.doc_id, stage)?))
        }
        Command::Reject(a) => Ok(output(&processing::reject(&node, &a.doc_id, &a.reason)?)),
        Command::Monitor => Ok(output(&monitor::monitor(&node)?)),
        Command::Sync(a) if a.from.is_some() => {
            let line = show_progress.then(ProgressLine::start);
            let options = direct_options(&a, line.as_ref().map(ProgressLine::feed))?;
            let from = options.from;
            let synced = crate::auditor::direct::sync_from_satker(node, options).await;
            drop(line);
            let synced = synced?;
            Ok(output(&crate::cli::render::sync::FromSatker {
                synced: &synced,
                from,
            }))
        }
        Command::Sync(a) => {
            let line = show_progress.then(ProgressLine::start);
            let options = sync::SyncOptions {
                progress: line.as_ref().map(ProgressLine::feed),
                ..sync::SyncOptions::within(std::time::Duration::from_secs(a.timeout.max(1)))
            };
            let synced = sync::sync(node, options).await;
            drop(line);
            Ok(output(&synced?))
        }
        Command::Verify => Ok(output(&verify::verify(&node)?)),
        Command::Proof(a) => Ok(output(&proof::write(&node, &a.doc_id, &a.out)?)),
        Command::CheckProof(a) => Ok(output(&check_proof(Some(&node), &a)?)),
        Command::Export(a) => Ok(output(&crate::export::export(&node, &a.dir, a.force)?)),
        Command::Backup(a) => {
            let line = show_progress.then(BackupProgress::start);
            let progress = line.as_ref().map(BackupProgress::feed);
            // The copy holds the store's write lock and does file IO for its length:
            // off the runtime's workers, so a serving node's connections keep moving.
            let backed_up =
                tokio::task::spawn_blocking(move || backup::backup(&node, &a.file, progress))
                    .await
                    .map_err(|e| {
                        NodeError::user(format!("the backup stopped unexpectedly: {e}"))
                    })?;
            drop(line);
            Ok(output(&backed_up?))
        }
    }
}

/// `espm check-proof`: against `--hub-id` when given, else the hub `node` pins; the
/// file's text was read by the CLI.
pub fn check_proof(node: Option<&Node>, a: &super::CheckProofArgs) -> Result<proof::Checked> {
    let hub: NodeId = match (&a.hub_id, node) {
        (Some(id), _) => id.parse().map_err(|_| {
            NodeError::user(format!(
                "'{id}' is not a hub id; copy it exactly as `espm id` prints it on the hub"
            ))
        })?,
        (None, Some(n)) => proof::pinned_hub(n),
        (None, None) => {
            return Err(NodeError::user(
                "no data directory here to say which hub to trust; give --hub-id HUB_NODE_ID",
            ))
        }
    };
    let text = match &a.text {
        Some(t) => t.clone(),
        None => proof::read(&a.file)?,
    };
    Ok(proof::check(&text, &hub))
}

/// `espm restore FILE`: rebuilds the node of a backup in `dir`, which is missing or
/// empty, so no node is opened or forwarded to first; a progress line when asked.
pub fn restore(
    dir: &std::path::Path,
    file: &std::path::Path,
    show_progress: bool,
) -> Result<Output> {
    let line = show_progress.then(BackupProgress::start);
    let restored = backup::restore_node(file, dir, line.as_ref().map(BackupProgress::feed));
    drop(line);
    Ok(output(&restored?))
}

/// `espm sync --from`'s arguments as the API takes them, refused with the message people need.
fn direct_options(
    a: &crate::cli::SyncArgs,
    progress: Option<sync::OnProgress>,
) -> Result<crate::auditor::direct::DirectOptions> {
    let from = a.from.as_deref().unwrap_or_default();
    let from = from.parse().map_err(|_| {
        NodeError::user(format!(
            "--from '{from}' is not IP:PORT; give the satker node's address and the port of its `espm serve --listen`"
        ))
    })?;
    let id = a.from_id.as_deref().unwrap_or_default();
    let from_id = id.parse().map_err(|_| {
        NodeError::user(format!(
            "--from-id '{id}' is not a node id; copy it exactly as `espm id` prints it on the satker device"
        ))
    })?;
    Ok(crate::auditor::direct::DirectOptions {
        from,
        from_id,
        timeout: std::time::Duration::from_secs(a.timeout.max(1)),
        progress,
    })
}

/// `espm enroll`'s arguments as the API takes them, refused with the message people need.
fn parse_enroll(a: EnrollArgs) -> Result<(NodeId, DeviceRole)> {
    let id: NodeId = a.node_id.parse().map_err(|_| {
        NodeError::user(format!(
            "'{}' is not a node id; copy it exactly as `espm id` prints it on the device",
            a.node_id
        ))
    })?;
    let role = match (a.satker, a.auditor) {
        (Some(s), false) => {
            check_satker_code(&s)?;
            DeviceRole::Satker { satker: s }
        }
        (None, true) if !a.scope.is_empty() => DeviceRole::Auditor { scope: a.scope },
        _ => {
            return Err(NodeError::user(
                "give either --satker CODE or --auditor --scope CODE[,CODE…]",
            ))
        }
    };
    Ok((id, role))
}

/// Ensures `init` is handled by [`init`], which creates rather than opens a node.
pub fn is_init(cmd: &Command) -> Option<&Init> {
    match cmd {
        Command::Init(i) => Some(i),
        _ => None,
    }
}
