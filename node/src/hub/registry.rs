//! What the registration authority has issued, as the CSO lists it: every signer
//! certificate and every enrolled device, each with its status (`espm certs`,
//! `espm devices`).

use sync_protocol::{DeviceRole, Jabatan, NodeId, Timestamp};

use crate::{error::Result, node::Node, trust};

/// One certificate the hub issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRow {
    /// Serial.
    pub serial: String,
    /// The signer's name.
    pub name: String,
    /// NIP/NRP.
    pub nip: String,
    /// The role it grants.
    pub jabatan: Jabatan,
    /// Its satker.
    pub satker: String,
    /// `valid`, `revoked` or `expired`.
    pub status: &'static str,
}

/// Every certificate the hub issued, by serial.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Certs(pub Vec<CertRow>);

/// One enrolled device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    /// Its node id.
    pub node_id: NodeId,
    /// Satker device or auditor, with its satker or scope.
    pub role: DeviceRole,
    /// `active` or `revoked`.
    pub status: &'static str,
    /// When it last connected, if it has since this was recorded.
    pub last_seen: Option<Timestamp>,
}

/// Every device the hub enrolled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Devices {
    /// One row per device, by node id.
    pub rows: Vec<DeviceRow>,
    /// The KPPN's time zone, for showing times.
    pub tz: String,
}

/// `espm certs`
pub fn certs(node: &Node) -> Result<Certs> {
    node.require_hub("certs")?;
    let now = node.now();
    let mut rows = Vec::new();
    for (serial, _) in crate::schema::CERTS.list(&node.store, "")? {
        let Some(c) = trust::certificate(node, &serial)? else {
            continue;
        };
        let status = if trust::of_certificate(&node.store, &serial)?.is_some() {
            "revoked"
        } else if c.valid_at(now) {
            "valid"
        } else {
            "expired"
        };
        rows.push(CertRow {
            serial,
            name: c.subject.name,
            nip: c.subject.nip,
            jabatan: c.subject.jabatan,
            satker: c.satker,
            status,
        });
    }
    Ok(Certs(rows))
}

/// `espm devices`
pub fn devices(node: &Node) -> Result<Devices> {
    node.require_hub("devices")?;
    let mut rows = Vec::new();
    for (hex, rec) in crate::schema::DEVICES.list(&node.store, "")? {
        let Ok(node_id) = hex.parse::<NodeId>() else {
            continue;
        };
        let status = if trust::of_device(&node.store, &node_id)?.is_some() {
            "revoked"
        } else {
            "active"
        };
        rows.push(DeviceRow {
            node_id,
            role: rec.role,
            status,
            last_seen: rec.last_seen,
        });
    }
    Ok(Devices {
        rows,
        tz: node.tz()?.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use crate::{
        cli::{CertsArgs, Command, DevicesArgs},
        hub::revoke,
        testkit::{run, World, CSO},
    };

    #[test]
    fn the_cso_lists_every_certificate_and_device_with_its_status() {
        let mut w = World::new();
        let a = w.satker("123456");
        let b = w.satker("123456");
        let audit = w.auditor(&["123456"]);
        let ppspm = w.ppspm(&a);

        let certs = run(&w.hub, Command::Certs(CertsArgs { action: None }), None).unwrap();
        assert_eq!(
            certs.json,
            serde_json::json!([{ "serial": ppspm.serial, "name": "Siti Rahma", "nip": "198001012005012001",
                                 "jabatan": "ppspm", "satker": "123456", "status": "valid" }])
        );
        revoke::certificate(&w.hub, &ppspm.serial, "pindah tugas", Some(CSO)).unwrap();
        revoke::device(&w.hub, b.node_id(), "laptop hilang", Some(CSO)).unwrap();
        let certs = run(&w.hub, Command::Certs(CertsArgs { action: None }), None).unwrap();
        assert_eq!(certs.json[0]["status"], "revoked");
        assert!(certs.text.contains("revoked"), "{}", certs.text);

        let devices = run(&w.hub, Command::Devices(DevicesArgs { action: None }), None).unwrap();
        let rows = devices.json.as_array().unwrap();
        assert_eq!(rows.len(), 3, "{}", devices.json);
        let of = |id: sync_protocol::NodeId| {
            rows.iter()
                .find(|r| r["node_id"] == id.to_hex().as_str())
                .unwrap_or_else(|| panic!("{id} is not listed: {}", devices.json))
        };
        assert_eq!(of(a.node_id())["status"], "active");
        assert_eq!(of(a.node_id())["role"], "satker");
        assert_eq!(of(a.node_id())["satker"], "123456");
        assert_eq!(of(b.node_id())["status"], "revoked");
        assert_eq!(of(audit.node_id())["role"], "auditor");
        assert_eq!(of(audit.node_id())["scope"], serde_json::json!(["123456"]));
        // The in-memory sync makes no connection: nobody has been seen.
        assert!(rows.iter().all(|r| r["last_seen"].is_null()));
        assert!(devices.text.contains("never"), "{}", devices.text);
    }
}
