//! The `espm` command line as the contract in CLI.md defines it. The same types travel
//! over the control socket, so a command typed while `espm serve` runs is executed by
//! the running node exactly as it would be locally.

pub mod render;
pub mod run;
pub mod setup;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

/// espm: offline-first e-SPM sync node for satker, KPPN hubs and auditors.
#[derive(Parser, Debug)]
#[command(name = "espm", version, about)]
pub struct Cli {
    /// Data directory (default: the platform data directory; ESPM_DATA_DIR overrides).
    #[arg(long, global = true, env = "ESPM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print exactly one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Create a node: a hub, a satker node or an auditor node.
    #[command(subcommand)]
    Init(Init),
    /// Print this node's id.
    Id,
    /// Run the node: a hub listens; a satker or auditor syncs in the background.
    Serve,
    /// Enroll a device (hub).
    Enroll(EnrollArgs),
    /// Every enrolled device with its status and when it was last seen; revoke one (hub).
    Devices(DevicesArgs),
    /// Every signer certificate with its status; requests, approval, revocation (hub).
    Certs(CertsArgs),
    /// Signer keys on this device (satker).
    #[command(subcommand)]
    Signer(Signer),
    /// Certificates usable on this device.
    Signers,
    /// Add an operator on this device (satker).
    #[command(subcommand)]
    Operator(Operator),
    /// Operators on this device (satker); activation requests, approvals and
    /// revocations (hub).
    Operators(OperatorsArgs),
    /// Drafts (satker).
    #[command(subcommand)]
    Draft(Draft),
    /// Sign a document as it stands now.
    Sign(SignArgs),
    /// Queue one submission for the KPPN.
    Submit(SubmitArgs),
    /// Take back a queued submission that has not left this device.
    Withdraw(WithdrawArgs),
    /// The journey of one or all documents.
    Status(StatusArgs),
    /// Delivered documents not yet received (hub).
    Inbox,
    /// Receive a document now (hub).
    Take(DocArg),
    /// Move a document one stage on (hub).
    Advance(AdvanceArgs),
    /// Reject a document with a reason (hub).
    Reject(RejectArgs),
    /// Counts per satker and state, and alerts (hub).
    Monitor,
    /// Reconcile with the hub now.
    Sync(SyncArgs),
    /// Verify every stored item.
    Verify,
    /// Walk one SPM through its whole journey on loopback.
    Demo,
    /// Measure a sync scenario on loopback: ingest, fanin, incremental, pull, limits, outage.
    Bench(BenchArgs),
}

/// `espm bench`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct BenchArgs {
    /// ingest, fanin, incremental, pull, limits or outage.
    pub scenario: String,
    /// Documents (for incremental: already synced before the 10 new ones; for outage:
    /// besides the two that carry attachments).
    #[arg(long, default_value_t = 10_000)]
    pub docs: usize,
    /// Satker nodes (fanin).
    #[arg(long, default_value_t = 4)]
    pub satkers: usize,
    /// limits: also wait out the hub's idle timeout with a silent and a quiet connection (over a minute).
    #[arg(long)]
    #[serde(default)]
    pub wait_idle: bool,
}

/// `espm init …`
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Init {
    /// Create a KPPN hub.
    Hub {
        /// KPPN code.
        #[arg(long)]
        kppn: String,
        /// KPPN name.
        #[arg(long)]
        name: String,
        /// IANA time zone: Asia/Jakarta (WIB), Asia/Makassar (WITA), Asia/Jayapura (WIT).
        #[arg(long)]
        tz: String,
        /// UDP address to listen on, e.g. 0.0.0.0:4433.
        #[arg(long)]
        listen: String,
        /// Working-day service hours, local time.
        #[arg(long, default_value = "08:00-15:00")]
        service_hours: String,
        /// Documents that may be taken in per day outside service hours.
        #[arg(long, default_value_t = 0)]
        after_hours_quota: u32,
        /// How long the hub waits for a submission's attachments before refusing it
        /// back to the satker (e.g. 14d, 36h).
        #[arg(long, default_value = "14d")]
        attachment_expiry: String,
    },
    /// Create a satker node pinned to a hub.
    Satker {
        /// Satker code.
        #[arg(long)]
        satker: String,
        /// Hub address host:port.
        #[arg(long)]
        hub: String,
        /// The hub's node id, as `espm id` prints it on the hub.
        #[arg(long)]
        hub_id: String,
    },
    /// Create a read-only auditor node pinned to a hub.
    Auditor {
        /// Hub address host:port.
        #[arg(long)]
        hub: String,
        /// The hub's node id.
        #[arg(long)]
        hub_id: String,
    },
}

/// `espm enroll`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct EnrollArgs {
    /// The device's node id.
    pub node_id: String,
    /// Enroll as a device of this satker.
    #[arg(long, conflicts_with_all = ["auditor", "scope"], required_unless_present = "auditor")]
    pub satker: Option<String>,
    /// Enroll as a read-only auditor device.
    #[arg(long, requires = "scope")]
    pub auditor: bool,
    /// Satker codes the auditor may read, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub scope: Vec<String>,
}

/// `espm devices [revoke]`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct DevicesArgs {
    /// Without one: list the enrolled devices.
    #[command(subcommand)]
    pub action: Option<Devices>,
}

/// `espm certs [requests|approve|revoke]`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct CertsArgs {
    /// Without one: list the certificates issued.
    #[command(subcommand)]
    pub action: Option<Certs>,
}

/// `espm devices …`
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Devices {
    /// Block a device (lost, stolen).
    Revoke {
        /// The device's node id.
        node_id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `espm certs …`
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Certs {
    /// Pending signer certificate requests.
    Requests,
    /// Issue the certificate for a request.
    Approve {
        /// Request id from `certs requests`.
        request_id: String,
    },
    /// Revoke a certificate.
    Revoke {
        /// Serial.
        serial: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `espm signer …`
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Signer {
    /// Make a key pair on this device and queue a certificate request.
    Request {
        /// Full name.
        #[arg(long)]
        name: String,
        /// NIP/NRP, 18 digits.
        #[arg(long)]
        nip: String,
        /// NIK, 16 digits.
        #[arg(long)]
        nik: String,
        /// kpa, ppk, ppspm, bendahara or kepala-kantor.
        #[arg(long)]
        jabatan: String,
        /// Official e-mail (go.id, mil.id, ac.id).
        #[arg(long)]
        email: String,
        /// Work unit; defaults to the satker code.
        #[arg(long)]
        unit: Option<String>,
        /// Institution.
        #[arg(long, default_value = "")]
        instansi: String,
    },
}

/// `espm operator …`
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Operator {
    /// Create an operator's TOTP secret on this device and queue its activation request
    /// for the KPPN's CSO; it submits nothing until the KPPN approves.
    Add {
        /// Username, at least 8 letters or digits.
        #[arg(long)]
        username: String,
        /// operator-satker or operator-bendahara.
        #[arg(long)]
        role: String,
        /// The letter of appointment (SK Penunjukan) the CSO checks, by number or title.
        #[arg(long)]
        #[serde(default)]
        sk_penunjukan: Option<String>,
    },
}

/// `espm operators [requests|approve|revoke]`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct OperatorsArgs {
    /// Without one: list the operators.
    #[command(subcommand)]
    pub action: Option<Operators>,
}

/// `espm operators …` on the hub.
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Operators {
    /// Pending operator activation requests (hub).
    Requests,
    /// Activate the operator of a request, once its SK Penunjukan is checked (hub).
    Approve {
        /// Request id from `operators requests`.
        request_id: String,
    },
    /// Deactivate an operator (hub).
    Revoke {
        /// The operator's username.
        username: String,
        /// The operator's satker.
        #[arg(long)]
        satker: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `espm draft …`
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Draft {
    /// Start a draft.
    New {
        /// spm, spm-koreksi, spm-kp, spm-kpbb, spm-kbc, spm-ib, spm-bphtb, kontrak, rpd-harian, gaji, lpj-bendahara.
        kind: String,
        /// FIELD=VALUE, repeatable.
        #[arg(long = "set")]
        set: Vec<String>,
    },
    /// Edit a draft.
    Set {
        /// Document id.
        doc_id: String,
        /// FIELD=VALUE …
        #[arg(required = true)]
        fields: Vec<String>,
    },
    /// Attach a file: a PDF, PNG or JPEG of at most 10 MiB.
    Attach {
        /// Document id.
        doc_id: String,
        /// The file, read by this command where it is typed (a serving node never reads
        /// it): a regular file outside the data directory, judged by its content.
        file: PathBuf,
    },
    /// Show fields, attachments, signatures.
    Show {
        /// Document id.
        doc_id: String,
    },
    /// One line per document: kind, nomor, nilai, state, what it waits for.
    List {
        /// Only documents in this state.
        #[arg(long, value_parser = [
            "draft", "signed", "queued", "delivered", "received", "konversi", "validasi",
            "reviu", "approved", "rejected",
        ])]
        state: Option<String>,
    },
    /// Remove fields from a draft.
    Unset {
        /// Document id.
        doc_id: String,
        /// FIELD …
        #[arg(required = true)]
        fields: Vec<String>,
    },
    /// Remove an attachment from a draft, named by its SHA-256 as `draft show` prints it.
    Detach {
        /// Document id.
        doc_id: String,
        /// The attachment's SHA-256.
        sha256: String,
    },
}

/// `espm sign`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct SignArgs {
    /// Document id.
    pub doc_id: String,
    /// Certificate serial to sign with.
    #[arg(long)]
    pub signer: String,
    /// Where the signer signs (the town), shown with the signature; the satker code
    /// without it.
    #[arg(long)]
    #[serde(default)]
    pub place: Option<String>,
}

/// `espm submit`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct SubmitArgs {
    /// Document ids.
    #[arg(required = true)]
    pub doc_ids: Vec<String>,
    /// Operator username.
    #[arg(long)]
    pub operator: String,
    /// The operator's current 6-digit code.
    #[arg(long)]
    pub totp: String,
}

/// `espm withdraw`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct WithdrawArgs {
    /// The submission id `espm submit` printed.
    pub submission_id: String,
}

/// `espm status`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct StatusArgs {
    /// A document id; all documents without it.
    pub doc_id: Option<String>,
}

/// A document id argument.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct DocArg {
    /// Document id.
    pub doc_id: String,
}

/// `espm advance`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct AdvanceArgs {
    /// Document id.
    pub doc_id: String,
    /// konversi, validasi, reviu or approved.
    #[arg(long)]
    pub stage: String,
}

/// `espm reject`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct RejectArgs {
    /// Document id.
    pub doc_id: String,
    /// Why; the satker sees it.
    #[arg(long)]
    pub reason: String,
}

/// `espm sync`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct SyncArgs {
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

impl Command {
    /// Whose passphrase the command needs, if any: a signer's, or the CSO's (the
    /// registration authority's, which seals the hub's authority key).
    pub fn needs_passphrase(&self) -> Option<&'static str> {
        match self {
            Command::Signer(Signer::Request { .. }) | Command::Sign(_) => Some("Signer"),
            Command::Init(Init::Hub { .. })
            | Command::Enroll(_)
            | Command::Devices(DevicesArgs {
                action: Some(Devices::Revoke { .. }),
            })
            | Command::Certs(CertsArgs {
                action: Some(Certs::Approve { .. } | Certs::Revoke { .. }),
            })
            | Command::Operators(OperatorsArgs {
                action: Some(Operators::Approve { .. } | Operators::Revoke { .. }),
            }) => Some("CSO"),
            _ => None,
        }
    }

    /// Whether the command may be forwarded to a running node.
    pub fn forwardable(&self) -> bool {
        !matches!(
            self,
            Command::Init(_) | Command::Serve | Command::Demo | Command::Bench(_)
        )
    }
}

/// The file named on the command line of `draft attach`, or `None` for another command.
pub fn path_of(cmd: &Command) -> Option<&PathBuf> {
    match cmd {
        Command::Draft(Draft::Attach { file, .. }) => Some(file),
        _ => None,
    }
}
