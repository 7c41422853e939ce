//! An open node: its data directory, store, role, and keys.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use storage::{Store, Table};
use sync_protocol::{NodeId, PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::{
    config::{NodeConfig, CONFIG_KEY},
    error::{NodeError, Result},
    hub_limits::LiveConnections,
};

/// Meta key of the hub authority key a satker or auditor learned from the hub identity.
pub const AUTHORITY_KEY: &str = "authority";
/// Meta key of the hub's time zone as learned from the hub identity.
pub const HUB_TZ_KEY: &str = "hub_tz";
/// Meta key of an auditor's scope as learned from its own enrollment.
pub const AUDITOR_SCOPE_KEY: &str = "scope";

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
    /// The hub's authority key (hubs only).
    pub authority: Option<SecretKey>,
    /// The devices' live connections to this hub, so a revocation can close them.
    pub live: Arc<LiveConnections>,
}

fn write_key_file(path: &Path, key: &SecretKey) -> Result<()> {
    let text = Zeroizing::new(hex::encode(key.to_bytes()));
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
    f.write_all(text.as_bytes()).map_err(NodeError::io(format!(
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
    /// Creates a node in an empty (or missing) data directory.
    pub fn create(dir: &Path, config: NodeConfig) -> Result<Node> {
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
        let key = SecretKey::generate();
        write_key_file(&dir.join("node.key"), &key)?;
        let authority = if matches!(config, NodeConfig::Hub(_)) {
            let a = SecretKey::generate();
            write_key_file(&dir.join("authority.key"), &a)?;
            Some(a)
        } else {
            None
        };
        let store = Store::open(dir)?;
        store.write(|t| {
            t.put(Table::Meta, CONFIG_KEY, &config);
            Ok(())
        })?;
        store.flush()?;
        Ok(Node {
            dir: dir.to_path_buf(),
            store,
            config,
            key,
            authority,
            live: Arc::default(),
        })
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
        let config: NodeConfig = store.get(Table::Meta, CONFIG_KEY)?.ok_or_else(|| {
            NodeError::user(format!(
                "the node in {} was never fully initialized; remove it and run init again",
                dir.display()
            ))
        })?;
        let key = read_key_file(&dir.join("node.key"))?;
        let authority = match config {
            NodeConfig::Hub(_) => Some(read_key_file(&dir.join("authority.key"))?),
            _ => None,
        };
        Ok(Node {
            dir: dir.to_path_buf(),
            store,
            config,
            key,
            authority,
            live: Arc::default(),
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

    /// The hub authority key this node trusts: its own on a hub, the learned one elsewhere.
    pub fn authority_key(&self) -> Result<Option<PublicKey>> {
        if let Some(a) = &self.authority {
            return Ok(Some(a.public()));
        }
        Ok(self.store.get(Table::Meta, AUTHORITY_KEY)?)
    }

    /// The KPPN time zone, when known.
    pub fn tz(&self) -> Result<Option<String>> {
        if let NodeConfig::Hub(h) = &self.config {
            return Ok(Some(h.tz.clone()));
        }
        Ok(self.store.get(Table::Meta, HUB_TZ_KEY)?)
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

    /// The hub key, or an error naming the command that needs a hub.
    pub fn require_hub(&self, what: &str) -> Result<&SecretKey> {
        self.require_writer(what)?;
        self.authority.as_ref().ok_or_else(|| {
            NodeError::user(format!(
                "`{what}` runs on the KPPN hub; this node is a {}",
                self.config.role()
            ))
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::HubConfig;

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
        });
        let node = Node::create(&dir, config).unwrap();
        assert_eq!(mode(&dir), "700");
        assert_eq!(mode(&dir.join("node.key")), "600");
        assert_eq!(mode(&dir.join("authority.key")), "600");
        // These are the files the node's identity is read back from, so their modes are
        // what protects it.
        let (id, authority) = (node.node_id(), node.authority_key().unwrap());
        drop(node);
        let reopened = Node::open(&dir).unwrap();
        assert_eq!(reopened.node_id(), id);
        assert_eq!(reopened.authority_key().unwrap(), authority);
    }
}
