//! An open node: its data directory, store, role, and keys.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use storage::{SealedKey, Store};
use sync_protocol::{NodeId, PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::{
    clock::{Clock, WallClock},
    config::NodeConfig,
    error::{NodeError, Result},
    live::LiveConnections,
    lockout::{self, Guarded},
};

/// The shortest passphrase accepted for a sealed key (a signer's or the CSO's). The
/// lockout only limits guesses on the device; a copied key file meets Argon2 alone.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// Refuses a passphrase shorter than [`MIN_PASSPHRASE_CHARS`], naming whose it is.
pub fn check_new_passphrase(passphrase: &str, whose: &str) -> Result<()> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(NodeError::user(format!(
            "the {whose} passphrase must be at least {MIN_PASSPHRASE_CHARS} characters; choose a longer one"
        )));
    }
    Ok(())
}

/// A node opened on its data directory.
pub struct Node {
    /// The data directory.
    pub dir: PathBuf,
    /// The store.
    pub store: Store,
    /// Role and settings.
    pub config: NodeConfig,
    /// The node key (TLS identity, device signatures).
    pub key: SecretKey,
    /// The hub's service key (hubs only): signs receipts and status updates, so a
    /// serving hub needs no person present. It cannot mint certificates, enrollments or
    /// activations: those need the authority key, sealed under the CSO's passphrase.
    pub service: Option<SecretKey>,
    /// The devices' live connections to this hub, so a revocation can close them.
    pub live: Arc<LiveConnections>,
    /// Where every rule on this node gets the time.
    pub clock: Arc<dyn Clock>,
}

/// The hub's service key file: plain, owner-only, used by a serving hub unattended.
const SERVICE_KEY_FILE: &str = "service.key";
/// The hub's authority key file: sealed under the CSO's passphrase.
const AUTHORITY_KEY_FILE: &str = "authority.key";

fn write_key_file(path: &Path, key: &SecretKey) -> Result<()> {
    let text = Zeroizing::new(hex::encode(key.to_bytes()));
    write_owner_only(path, text.as_bytes())
}

/// Writes a new file readable only by its owner from the first byte on.
fn write_owner_only(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Owner-only from the first byte written, not chmod-ed afterwards.
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(NodeError::io(format!(
        "cannot create key file {}",
        path.display()
    )))?;
    f.write_all(bytes).map_err(NodeError::io(format!(
        "cannot write key file {}",
        path.display()
    )))?;
    f.sync_all().map_err(NodeError::io(format!(
        "cannot write key file {}",
        path.display()
    )))?;
    Ok(())
}

fn read_key_file(path: &Path) -> Result<SecretKey> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(NodeError::io(format!(
        "cannot read key file {}",
        path.display()
    )))?);
    let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
        NodeError::user(format!(
            "key file {} is damaged; restore the data directory from a backup",
            path.display()
        ))
    })?);
    let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        NodeError::user(format!(
            "key file {} is damaged; restore the data directory from a backup",
            path.display()
        ))
    })?;
    Ok(SecretKey::from_bytes(&arr))
}

impl Node {
    /// Creates a node in an empty (or missing) data directory. A hub also gets its
    /// service key and its authority key, sealed under `cso_passphrase`; returns the
    /// node and, for a hub, the authority key for the identity `init` issues.
    pub fn create(
        dir: &Path,
        config: NodeConfig,
        cso_passphrase: Option<&str>,
    ) -> Result<(Node, Option<SecretKey>)> {
        fs::create_dir_all(dir).map_err(NodeError::io(format!(
            "cannot create data directory {}",
            dir.display()
        )))?;
        if dir.join("node.key").exists() {
            return Err(NodeError::user(format!(
                "{} already holds an espm node; choose another --data-dir",
                dir.display()
            )));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Not fatal: some filesystems (a FAT stick, say) have no modes. The key files
            // are owner-only anyway; say so, so the operator can move the directory.
            if let Err(e) = fs::set_permissions(dir, fs::Permissions::from_mode(0o700)) {
                tracing::warn!(
                    dir = %dir.display(),
                    error = %e,
                    "could not make the data directory readable only by its owner"
                );
            }
        }
        let hub = matches!(config, NodeConfig::Hub(_));
        let cso = match (hub, cso_passphrase) {
            (true, Some(p)) => {
                check_new_passphrase(p, "CSO")?;
                Some(p)
            }
            (true, None) => {
                return Err(NodeError::user(
                    "a hub's authority key is sealed under the CSO's passphrase: type it when asked, or set ESPM_PASSPHRASE",
                ))
            }
            (false, _) => None,
        };
        let key = SecretKey::generate();
        write_key_file(&dir.join("node.key"), &key)?;
        let (service, authority) = match cso {
            Some(passphrase) => {
                let service = SecretKey::generate();
                write_key_file(&dir.join(SERVICE_KEY_FILE), &service)?;
                let authority = SecretKey::generate();
                let sealed = SealedKey::seal(&Zeroizing::new(authority.to_bytes()), passphrase)?;
                write_owner_only(&dir.join(AUTHORITY_KEY_FILE), &sealed.to_bytes())?;
                (Some(service), Some(authority))
            }
            None => (None, None),
        };
        let store = Store::open(dir)?;
        store.write(|t| {
            crate::schema::CONFIG.put(t, &config);
            if let (Some(a), Some(s)) = (&authority, &service) {
                crate::schema::AUTHORITY.put(t, &a.public());
                crate::schema::SERVICE.put(t, &s.public());
            }
            Ok(())
        })?;
        store.flush()?;
        let node = Node {
            dir: dir.to_path_buf(),
            store,
            config,
            key,
            service,
            live: Arc::default(),
            clock: Arc::new(WallClock),
        };
        Ok((node, authority))
    }

    /// Opens an initialized node.
    pub fn open(dir: &Path) -> Result<Node> {
        if !dir.join("node.key").exists() {
            return Err(NodeError::user(format!(
                "no espm node in {}; run `espm init hub|satker|auditor` first or pass the right --data-dir",
                dir.display()
            )));
        }
        let store = Store::open(dir)?;
        let config = crate::schema::CONFIG.get(&store)?.ok_or_else(|| {
            NodeError::user(format!(
                "the node in {} was never fully initialized; remove it and run init again",
                dir.display()
            ))
        })?;
        let key = read_key_file(&dir.join("node.key"))?;
        let service = match config {
            NodeConfig::Hub(_) => Some(read_key_file(&dir.join(SERVICE_KEY_FILE))?),
            _ => None,
        };
        Ok(Node {
            dir: dir.to_path_buf(),
            store,
            config,
            key,
            service,
            live: Arc::default(),
            clock: Arc::new(WallClock),
        })
    }

    /// The same node, its rules reading `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Node {
        self.clock = clock;
        self
    }

    /// Now, by this node's clock.
    pub fn now(&self) -> sync_protocol::Timestamp {
        self.clock.now()
    }

    /// The hub authority key, unsealed with the CSO's passphrase for one command.
    /// Wrong passphrases count toward the same lockout as a signer's, so a copied or
    /// stolen hub data directory cannot be guessed at on the hub itself either.
    pub fn authority(&self, passphrase: Option<&str>) -> Result<SecretKey> {
        self.require_writer("use the registration authority")?;
        if self.service.is_none() {
            return Err(NodeError::user(format!(
                "this command is the KPPN registration authority's; this node is a {}",
                self.config.role()
            )));
        }
        let passphrase = passphrase.ok_or_else(|| {
            NodeError::user(
                "this command needs the CSO's passphrase, which seals the hub's authority key: type it when asked, or set ESPM_PASSPHRASE",
            )
        })?;
        let path = self.dir.join(AUTHORITY_KEY_FILE);
        let bytes = fs::read(&path).map_err(NodeError::io(format!(
            "cannot read the sealed authority key {}",
            path.display()
        )))?;
        let sealed = SealedKey::from_bytes(&bytes).map_err(|_| {
            NodeError::user(format!(
                "the sealed authority key {} is damaged; restore the hub's data directory from a backup",
                path.display()
            ))
        })?;
        let secret = lockout::unseal(
            &self.store,
            &*self.clock,
            &self.zone()?,
            &Guarded::Authority,
            &sealed,
            passphrase,
        )?;
        let key = SecretKey::from_bytes(&secret);
        if Some(key.public()) != self.authority_key()? {
            return Err(NodeError::user(format!(
                "the sealed authority key {} is not this hub's; restore the hub's data directory from a backup",
                path.display()
            )));
        }
        Ok(key)
    }

    /// The hub's service key, or an error naming the command that needs a hub.
    pub fn service_key(&self, what: &str) -> Result<&SecretKey> {
        self.require_writer(what)?;
        self.service.as_ref().ok_or_else(|| {
            NodeError::user(format!(
                "`{what}` runs on the KPPN hub; this node is a {}",
                self.config.role()
            ))
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.key.public()
    }

    /// The satker this node serves, for satker nodes.
    pub fn satker(&self) -> Option<&str> {
        match &self.config {
            NodeConfig::Satker { satker, .. } => Some(satker),
            _ => None,
        }
    }

    /// The hub authority key this node trusts: recorded at `init` on the hub, learned
    /// from the hub identity elsewhere.
    pub fn authority_key(&self) -> Result<Option<PublicKey>> {
        Ok(crate::schema::AUTHORITY.get(&self.store)?)
    }

    /// The hub service key this node trusts for receipts and status updates.
    pub fn service_public_key(&self) -> Result<Option<PublicKey>> {
        Ok(crate::schema::SERVICE.get(&self.store)?)
    }

    /// The signing policy table in force on this node: the newest it holds.
    pub fn policy(&self) -> Result<sync_protocol::Policy> {
        match crate::policy::newest(&self.store)? {
            Some(table) => Ok(table.policy),
            None if self.service.is_some() => Err(NodeError::user(
                "this hub holds no signing policy table: `espm init hub` issues one, so this data directory was made by an older espm; create the hub again with `espm init hub`",
            )),
            None => Err(NodeError::user(
                "this node holds no signing policy table yet; run `espm sync` so it learns the table from the hub",
            )),
        }
    }

    /// The KPPN time zone, when known.
    pub fn tz(&self) -> Result<Option<String>> {
        if let NodeConfig::Hub(h) = &self.config {
            return Ok(Some(h.tz.clone()));
        }
        Ok(crate::schema::HUB_TZ.get(&self.store)?)
    }

    /// The time zone times are shown to people in: the KPPN's (a satker or auditor
    /// learns it from the hub), else UTC.
    pub fn zone(&self) -> Result<String> {
        Ok(self.tz()?.unwrap_or_else(|| "UTC".to_string()))
    }

    /// Refuses if this node is an auditor: auditors never write.
    pub fn require_writer(&self, what: &str) -> Result<()> {
        if matches!(self.config, NodeConfig::Auditor { .. }) {
            return Err(NodeError::user(format!(
                "this is a read-only auditor node: it refuses every command that writes (here: {what}); run it on the satker's or the KPPN's node"
            )));
        }
        Ok(())
    }

    /// The satker code, or an error naming the command that needs a satker node.
    pub fn require_satker(&self, what: &str) -> Result<&str> {
        self.require_writer(what)?;
        self.satker().ok_or_else(|| {
            NodeError::user(format!(
                "`{what}` runs on a satker node; this node is a {}",
                self.config.role()
            ))
        })
    }

    /// Refuses unless this node is a hub, naming the command that needs one.
    pub fn require_hub(&self, what: &str) -> Result<()> {
        self.service_key(what).map(|_| ())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::HubConfig;

    /// Every file below `dir`.
    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            for entry in fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out
    }

    /// The permission bits of `path` in octal, as `ls -l` and `chmod` speak of them.
    fn mode(path: &Path) -> String {
        format!(
            "{:o}",
            fs::metadata(path).unwrap().permissions().mode() & 0o777
        )
    }

    #[test]
    fn a_new_hubs_keys_are_owner_only_files_in_an_owner_only_data_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("espm");
        // Made beforehand and readable by everyone, as `mkdir` leaves it under the
        // usual umask: creating the node must close it, not rely on how it was made.
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let config = NodeConfig::Hub(HubConfig {
            kppn: "019".into(),
            name: "KPPN Kotabumi".into(),
            tz: "Asia/Jakarta".into(),
            listen: "127.0.0.1:0".into(),
            open_minute: 480,
            close_minute: 900,
            after_hours_quota: 0,
            attachment_expiry_ms: crate::config::DEFAULT_ATTACHMENT_EXPIRY_MS,
        });
        let (node, authority) = Node::create(&dir, config, Some("kata sandi CSO")).unwrap();
        assert_eq!(mode(&dir), "700");
        assert_eq!(mode(&dir.join("node.key")), "600");
        assert_eq!(mode(&dir.join("authority.key")), "600");
        assert_eq!(mode(&dir.join("service.key")), "600");
        // The authority key is on disk only sealed: neither its bytes nor its hex.
        let secret = authority.unwrap().to_bytes();
        for entry in walk(&dir) {
            let bytes = fs::read(&entry).unwrap();
            let hex = hex::encode(secret);
            assert!(
                !bytes.windows(32).any(|w| w == secret)
                    && !bytes.windows(hex.len()).any(|w| w == hex.as_bytes()),
                "{} holds the authority key in the clear",
                entry.display()
            );
        }
        // These are the files the node's identity is read back from, so their modes are
        // what protects it.
        let (id, authority) = (node.node_id(), node.authority_key().unwrap());
        drop(node);
        let reopened = Node::open(&dir).unwrap();
        assert_eq!(reopened.node_id(), id);
        assert_eq!(reopened.authority_key().unwrap(), authority);
    }
}
