//! The `espm` command line as the contract in CLI.md defines it. The same types travel
//! over the control socket, so a command typed while `espm serve` runs is executed by
//! the running node exactly as it would be locally.

pub mod render;
pub mod run;
pub mod setup;
pub mod values;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

/// The heading global options are listed under, apart from each command's own.
const GLOBAL: &str = "Global options";

/// espm: offline-first e-SPM sync node for satker, KPPN hubs and auditors.
#[derive(Parser, Debug)]
#[command(name = "espm", version, about)]
pub struct Cli {
    /// Data directory (default: the platform data directory; ESPM_DATA_DIR overrides).
    #[arg(long, global = true, env = "ESPM_DATA_DIR", help_heading = GLOBAL)]
    pub data_dir: Option<PathBuf>,
    /// Print exactly one JSON document on stdout.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// More output: -v shows details (roles, fingerprints) and info logs, -vv debug
    /// logs, -vvv trace logs (ESPM_LOG overrides the log filter).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Only the answer (an id, a table) and errors; no other messages.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Create a node: a hub, a satker node or an auditor node.
    #[command(
        subcommand,
        after_help = "Example:\n  espm init satker --satker 123456 --hub kppn019.example.go.id:4433 --hub-id HUB_NODE_ID"
    )]
    Init(Init),
    /// Print this node's id.
    #[command(
        after_help = "Example:\n  espm id\n  espm -v id      # with the role and the fingerprint to compare"
    )]
    Id,
    /// This node: id, role, scope, hub, last sync, last error and what is queued.
    #[command(after_help = "Example:\n  espm info\n  espm --json info")]
    Info,
    /// Run the node: a hub listens; a satker or auditor syncs in the background.
    #[command(
        after_help = "Example:\n  espm serve\n  espm serve --listen 0.0.0.0:4434   # a satker that also answers auditors in its scope"
    )]
    Serve(ServeArgs),
    /// Enroll a device (hub).
    #[command(
        after_help = "Example:\n  espm enroll DEVICE_NODE_ID --satker 123456\n  espm enroll DEVICE_NODE_ID --auditor --scope 123456,654321"
    )]
    Enroll(EnrollArgs),
    /// Every enrolled device with its status and when it was last seen; revoke one (hub).
    #[command(
        after_help = "Example:\n  espm devices\n  espm devices revoke DEVICE_NODE_ID --reason \"laptop hilang\""
    )]
    Devices(DevicesArgs),
    /// Every signer certificate with its status; requests, approval, revocation (hub).
    #[command(
        after_help = "Example:\n  espm certs\n  espm certs requests\n  espm certs approve REQUEST_ID"
    )]
    Certs(CertsArgs),
    /// Signer keys on this device (satker).
    #[command(
        subcommand,
        after_help = "Example:\n  espm signer request --name \"Siti Rahma\" --nip 198001012005012001 --nik 3171234567890123 --jabatan ppspm --email siti.rahma@kemenkeu.go.id"
    )]
    Signer(Signer),
    /// Certificates usable on this device.
    #[command(after_help = "Example:\n  espm signers")]
    Signers,
    /// Add an operator on this device (satker).
    #[command(
        subcommand,
        after_help = "Example:\n  espm operator add --username operator01 --role operator-satker --sk-penunjukan \"SK KPA No. 12/2026\""
    )]
    Operator(Operator),
    /// Operators on this device (satker); activation requests, approvals and
    /// revocations (hub).
    #[command(
        after_help = "Example:\n  espm operators\n  espm operators approve REQUEST_ID      # on the hub"
    )]
    Operators(OperatorsArgs),
    /// Drafts (satker).
    #[command(
        subcommand,
        after_help = "Example:\n  espm draft new spm --set nomor=00001/SPM/123456/2026 --set nilai=15000000"
    )]
    Draft(Draft),
    /// The fields and signers of each document kind, or of one.
    #[command(after_help = "Example:\n  espm kinds\n  espm kinds spm")]
    Kinds(KindsArgs),
    /// Sign a document as it stands now.
    #[command(after_help = "Example:\n  espm sign DOC_ID --signer 019-000001")]
    Sign(SignArgs),
    /// Queue one submission for the KPPN.
    #[command(after_help = "Example:\n  espm submit DOC_ID --operator operator01 --totp 123456")]
    Submit(SubmitArgs),
    /// Take back a queued submission that has not left this device.
    #[command(after_help = "Example:\n  espm withdraw SUBMISSION_ID")]
    Withdraw(WithdrawArgs),
    /// The journey of one or all documents.
    #[command(after_help = "Example:\n  espm status\n  espm status DOC_ID")]
    Status(StatusArgs),
    /// Delivered documents not yet received (hub).
    #[command(after_help = "Example:\n  espm inbox")]
    Inbox,
    /// Receive a document now (hub).
    #[command(after_help = "Example:\n  espm take DOC_ID")]
    Take(DocArg),
    /// Move a document one stage on (hub).
    #[command(after_help = "Example:\n  espm advance DOC_ID --stage konversi")]
    Advance(AdvanceArgs),
    /// Reject a document with a reason (hub).
    #[command(
        after_help = "Example:\n  espm reject DOC_ID --reason \"nilai tidak sesuai kontrak\""
    )]
    Reject(RejectArgs),
    /// Counts per satker and state, and alerts (hub).
    #[command(after_help = "Example:\n  espm monitor")]
    Monitor,
    /// Reconcile with the hub now (an auditor: or straight with a satker node, --from).
    #[command(
        after_help = "Example:\n  espm sync --timeout 120\n  espm sync --from 10.0.0.7:4434 --from-id SATKER_NODE_ID   # an auditor, straight from a satker node in its scope"
    )]
    Sync(SyncArgs),
    /// Verify every stored item.
    #[command(after_help = "Example:\n  espm verify")]
    Verify,
    /// Write a self-contained delivery proof of a document.
    #[command(after_help = "Example:\n  espm proof 0000123 --out bukti-0000123.json")]
    Proof(ProofArgs),
    /// Check a delivery proof offline, on any node or none.
    #[command(
        name = "check-proof",
        after_help = "Example:\n  espm check-proof bukti-0000123.json\n  espm check-proof bukti-0000123.json --hub-id HUB_NODE_ID"
    )]
    CheckProof(CheckProofArgs),
    /// Write every document with its signatures, certificates and verification result.
    #[command(after_help = "Example:\n  espm export /media/usb/audit-2026")]
    Export(ExportArgs),
    /// Write a consistent snapshot of this node, serving or not, to FILE.
    #[command(after_help = "Example:\n  espm backup /media/usb/kppn019-2026-12-01.espm-backup")]
    Backup(FileArg),
    /// Rebuild a node from a backup, into an empty (or missing) data directory.
    #[command(
        after_help = "Example:\n  espm --data-dir /var/lib/espm restore /media/usb/kppn019-2026-12-01.espm-backup"
    )]
    Restore(FileArg),
    /// Walk one SPM through its whole journey on loopback.
    #[command(after_help = "Example:\n  espm demo")]
    Demo,
    /// Measure a sync scenario on loopback: ingest, fanin, incremental, pull, limits, outage.
    #[command(after_help = "Example:\n  espm bench ingest --docs 1000")]
    Bench(BenchArgs),
}

/// `espm bench`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct BenchArgs {
    /// ingest, fanin, incremental, pull, limits, outage or ceiling.
    pub scenario: String,
    /// Documents (for incremental: already synced before the 10 new ones; for outage:
    /// besides the two that carry attachments).
    #[arg(long, default_value_t = 10_000)]
    pub docs: usize,
    /// Satker nodes (fanin).
    #[arg(long, default_value_t = 4)]
    pub satkers: usize,
    /// Bytes of each generated document's fields (names and values together).
    #[arg(long, default_value_t = DEFAULT_DOC_BYTES)]
    #[serde(default = "default_doc_bytes")]
    pub doc_bytes: usize,
    /// limits: also wait out the hub's idle timeout with a silent and a quiet connection (over a minute).
    #[arg(long)]
    #[serde(default)]
    pub wait_idle: bool,
}

/// Bytes of a generated document's fields by default: a real SPM with a short
/// description of the payment. `--doc-bytes` changes it; the free text (`keterangan`)
/// takes whatever the other fields leave.
pub const DEFAULT_DOC_BYTES: usize = 1024;

fn default_doc_bytes() -> usize {
    DEFAULT_DOC_BYTES
}

/// `espm init …`
#[derive(Subcommand, Debug, Clone, Serialize, Deserialize)]
pub enum Init {
    /// Create a KPPN hub.
    #[command(
        after_help = "Example:\n  espm init hub --kppn 019 --name \"KPPN Kotabumi\" --tz Asia/Jakarta --listen 0.0.0.0:4433"
    )]
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
    #[command(
        after_help = "Example:\n  espm init satker --satker 123456 --hub kppn019.example.go.id:4433 --hub-id HUB_NODE_ID"
    )]
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
    #[command(
        after_help = "Example:\n  espm init auditor --hub kppn019.example.go.id:4433 --hub-id HUB_NODE_ID"
    )]
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
    #[command(
        after_help = "Example:\n  espm devices revoke DEVICE_NODE_ID --reason \"laptop hilang\""
    )]
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
    #[command(after_help = "Example:\n  espm certs requests")]
    Requests,
    /// Issue the certificate for a request.
    #[command(after_help = "Example:\n  espm certs approve REQUEST_ID")]
    Approve {
        /// Request id from `certs requests`.
        request_id: String,
    },
    /// Revoke a certificate.
    #[command(
        after_help = "Example:\n  espm certs revoke 019-000001 --reason \"pejabat dimutasi\""
    )]
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
    #[command(
        after_help = "Example:\n  espm signer request --name \"Siti Rahma\" --nip 198001012005012001 --nik 3171234567890123 --jabatan ppspm --email siti.rahma@kemenkeu.go.id"
    )]
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
        #[arg(long, value_parser = values::jabatan())]
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
    #[command(
        after_help = "Example:\n  espm operator add --username operator01 --role operator-satker --sk-penunjukan \"SK KPA No. 12/2026\""
    )]
    Add {
        /// Username, at least 8 letters or digits.
        #[arg(long)]
        username: String,
        /// operator-satker or operator-bendahara.
        #[arg(long, value_parser = values::operator_role())]
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
    #[command(after_help = "Example:\n  espm operators requests")]
    Requests,
    /// Activate the operator of a request, once its SK Penunjukan is checked (hub).
    #[command(after_help = "Example:\n  espm operators approve REQUEST_ID")]
    Approve {
        /// Request id from `operators requests`.
        request_id: String,
    },
    /// Deactivate an operator (hub).
    #[command(
        after_help = "Example:\n  espm operators revoke operator01 --satker 123456 --reason \"operator dimutasi\""
    )]
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
    #[command(
        after_help = "Example:\n  espm draft new spm --set nomor=00001/SPM/123456/2026 --set nilai=15000000"
    )]
    New {
        /// spm, spm-koreksi, spm-kp, spm-kpbb, spm-kbc, spm-ib, spm-bphtb, kontrak, rpd-harian, gaji, lpj-bendahara.
        #[arg(value_parser = values::kind())]
        kind: String,
        /// FIELD=VALUE, repeatable.
        #[arg(long = "set")]
        set: Vec<String>,
    },
    /// Edit a draft.
    #[command(
        after_help = "Example:\n  espm draft set DOC_ID \"uraian=Belanja alat tulis kantor\""
    )]
    Set {
        /// Document id.
        doc_id: String,
        /// FIELD=VALUE …
        #[arg(required = true)]
        fields: Vec<String>,
    },
    /// Attach a file: a PDF, PNG or JPEG of at most 10 MiB.
    #[command(after_help = "Example:\n  espm draft attach DOC_ID kuitansi.pdf")]
    Attach {
        /// Document id.
        doc_id: String,
        /// The file, read by this command where it is typed (a serving node never reads
        /// it): a regular file outside the data directory, judged by its content.
        file: PathBuf,
    },
    /// Show fields, attachments, signatures.
    #[command(after_help = "Example:\n  espm draft show DOC_ID")]
    Show {
        /// Document id.
        doc_id: String,
    },
    /// One line per document: kind, nomor, nilai, state, what it waits for.
    #[command(after_help = "Example:\n  espm draft list\n  espm draft list --state signed")]
    List {
        /// Only documents in this state.
        #[arg(long, value_parser = values::state())]
        state: Option<String>,
    },
    /// Remove fields from a draft.
    #[command(after_help = "Example:\n  espm draft unset DOC_ID keterangan")]
    Unset {
        /// Document id.
        doc_id: String,
        /// FIELD …
        #[arg(required = true)]
        fields: Vec<String>,
    },
    /// Remove an attachment from a draft, named by its SHA-256 as `draft show` prints it.
    #[command(after_help = "Example:\n  espm draft detach DOC_ID SHA256")]
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

/// `espm kinds`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct KindsArgs {
    /// A document kind (spm, spm-koreksi, kontrak, …); every kind without it.
    #[arg(value_parser = values::kind())]
    pub kind: Option<String>,
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
    #[arg(long, value_parser = values::stage())]
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

/// `espm backup` and `espm restore`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct FileArg {
    /// The backup file.
    pub file: PathBuf,
}

/// `espm sync`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct SyncArgs {
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Auditor only: sync straight from the satker node at IP:PORT (one that runs
    /// `espm serve --listen`) instead of the hub, when the hub is out of reach.
    #[arg(long, value_name = "IP:PORT", requires = "from_id")]
    pub from: Option<String>,
    /// The node id of that satker device (`espm id` on it); its TLS must present it.
    #[arg(long, value_name = "SATKER_NODE_ID", requires = "from")]
    pub from_id: Option<String>,
}

/// `espm serve`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct ServeArgs {
    /// Satker only: also answer auditors in this satker's scope on UDP IP:PORT, so they
    /// can sync straight from this node when the hub is out of reach.
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Option<String>,
}

/// `espm proof`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct ProofArgs {
    /// Document id.
    pub doc_id: String,
    /// The file to write (made absolute here, where it was typed).
    #[arg(long, value_parser = absolute_path)]
    pub out: PathBuf,
}

/// `espm check-proof`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct CheckProofArgs {
    /// The proof file.
    pub file: PathBuf,
    /// The hub id to check against (`espm id` on the hub); needed outside a data
    /// directory, else the hub this node pins.
    #[arg(long)]
    pub hub_id: Option<String>,
    /// The file's text, read by the CLI where the user typed its name.
    #[arg(skip)]
    pub text: Option<String>,
}

/// `espm export`
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct ExportArgs {
    /// The folder to write: new or empty (made absolute here, where it was typed, since
    /// a serving node resolves paths from its own working directory).
    #[arg(value_parser = absolute_path)]
    pub dir: PathBuf,
    /// Replace DIR even when it is not empty.
    #[arg(long)]
    #[serde(default)]
    pub force: bool,
}

/// A path made absolute against the current directory of the process that parses it.
fn absolute_path(text: &str) -> std::result::Result<PathBuf, String> {
    if text.is_empty() {
        return Err("an empty path names no folder".into());
    }
    std::path::absolute(text).map_err(|e| format!("cannot make {text} absolute: {e}"))
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

    /// Whether the command seals a new key under the passphrase it asks for, so a typo
    /// must be caught by asking twice.
    pub fn sets_passphrase(&self) -> bool {
        matches!(
            self,
            Command::Signer(Signer::Request { .. }) | Command::Init(Init::Hub { .. })
        )
    }

    /// Whether the command may be forwarded to a running node.
    pub fn forwardable(&self) -> bool {
        !matches!(
            self,
            Command::Init(_)
                | Command::Serve(_)
                | Command::Demo
                | Command::Bench(_)
                | Command::Restore(_)
        )
    }

    /// The command as a serving node must receive it: a path it names made absolute
    /// here, since that node resolves it in its own working directory, not the user's.
    pub fn with_absolute_paths(&self) -> std::io::Result<Command> {
        Ok(match self {
            Command::Backup(FileArg { file }) => Command::Backup(FileArg {
                file: std::path::absolute(file)?,
            }),
            other => other.clone(),
        })
    }
}

/// The file named on the command line of `draft attach`, or `None` for another command.
pub fn path_of(cmd: &Command) -> Option<&PathBuf> {
    match cmd {
        Command::Draft(Draft::Attach { file, .. }) => Some(file),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
