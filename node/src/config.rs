//! What a node is: its role and the settings fixed at `init`, kept in the store.

use serde::{Deserialize, Serialize};
use sync_protocol::NodeId;

use crate::error::NodeError;

/// A hub's KPPN settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HubConfig {
    /// KPPN code.
    pub kppn: String,
    /// KPPN name.
    pub name: String,
    /// IANA time zone of the KPPN.
    pub tz: String,
    /// UDP address the hub listens on.
    pub listen: String,
    /// Service hours start, minutes after local midnight.
    pub open_minute: u32,
    /// Service hours end (exclusive), minutes after local midnight.
    pub close_minute: u32,
    /// How many documents may be taken in per day outside service hours.
    pub after_hours_quota: u32,
    /// How long, in milliseconds, the hub waits for the attachment chunks of a
    /// submission before it refuses the submission back to its satker.
    #[serde(default = "default_attachment_expiry_ms")]
    pub attachment_expiry_ms: i64,
}

/// Fourteen days: a satker office can be cut off for a week or two.
pub const DEFAULT_ATTACHMENT_EXPIRY_MS: i64 = 14 * 24 * 3600 * 1000;

fn default_attachment_expiry_ms() -> i64 {
    DEFAULT_ATTACHMENT_EXPIRY_MS
}

/// Parses a duration such as `14d`, `36h` or `90s` (jiff's friendly format, a day
/// counted as 24 hours) into milliseconds; it must be positive.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let bad = || format!("'{text}' is not a duration; write it like 14d, 36h or 90s");
    let span: jiff::Span = text.trim().parse().map_err(|_| bad())?;
    let d = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| bad())?;
    let ms = d.as_millis();
    if ms <= 0 || ms > i64::MAX as i128 {
        return Err(format!("'{text}' must be a positive duration"));
    }
    Ok(ms as i64)
}

/// Which role this node plays.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NodeConfig {
    /// The KPPN hub.
    Hub(HubConfig),
    /// A satker node pinned to a hub.
    Satker {
        /// The satker code.
        satker: String,
        /// The hub's address, host:port.
        hub: String,
        /// The hub's node key, pinned at enrollment.
        hub_id: NodeId,
    },
    /// An auditor node pinned to a hub.
    Auditor {
        /// The hub's address, host:port.
        hub: String,
        /// The hub's node key, pinned at enrollment.
        hub_id: NodeId,
    },
}

impl NodeConfig {
    /// `hub`, `satker` or `auditor`.
    pub fn role(&self) -> &'static str {
        match self {
            NodeConfig::Hub(_) => "hub",
            NodeConfig::Satker { .. } => "satker",
            NodeConfig::Auditor { .. } => "auditor",
        }
    }
}

/// Refuses a satker code that is not letters and digits (it becomes part of store keys
/// and stream names).
pub fn check_satker_code(code: &str) -> Result<(), NodeError> {
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(NodeError::user(format!(
            "satker code '{code}' must be letters and digits"
        )));
    }
    Ok(())
}

/// Parses `HH:MM-HH:MM` into minutes after midnight.
pub fn parse_service_hours(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("service hours '{text}' must look like 08:00-15:00");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let minute = |s: &str| -> Result<u32, String> {
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let h: u32 = h.parse().map_err(|_| bad())?;
        let m: u32 = m.parse().map_err(|_| bad())?;
        if h > 24 || m > 59 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(h * 60 + m)
    };
    let (open, close) = (minute(a)?, minute(b)?);
    if open >= close {
        return Err(format!("service hours '{text}' must end after they start"));
    }
    Ok((open, close))
}

/// The settings of a new hub, from what `init hub` was given as text. Each setting is
/// checked here, so every front-end refuses the same bad input with the same message.
pub struct HubSettings<'a> {
    /// KPPN code; must not be empty.
    pub kppn: &'a str,
    /// KPPN name.
    pub name: &'a str,
    /// IANA time zone, e.g. Asia/Jakarta.
    pub tz: &'a str,
    /// UDP address to listen on, IP:port.
    pub listen: &'a str,
    /// Service hours, e.g. 08:00-15:00.
    pub service_hours: &'a str,
    /// Documents taken in per day outside service hours.
    pub after_hours_quota: u32,
    /// How long to wait for a submission's attachment chunks, e.g. 14d.
    pub attachment_expiry: &'a str,
}

impl HubSettings<'_> {
    /// The hub's config, or the first setting that is wrong and how to write it.
    pub fn check(&self) -> Result<NodeConfig, NodeError> {
        jiff::tz::TimeZone::get(self.tz).map_err(|_| {
            NodeError::user(format!(
                "'{}' is not a time zone; use Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT)",
                self.tz
            ))
        })?;
        self.listen.parse::<std::net::SocketAddr>().map_err(|_| {
            NodeError::user(format!(
                "--listen '{}' must be an IP:port such as 0.0.0.0:4433",
                self.listen
            ))
        })?;
        let (open_minute, close_minute) =
            parse_service_hours(self.service_hours).map_err(NodeError::User)?;
        if self.kppn.trim().is_empty() {
            return Err(NodeError::user("--kppn must not be empty"));
        }
        Ok(NodeConfig::Hub(HubConfig {
            kppn: self.kppn.to_string(),
            name: self.name.to_string(),
            tz: self.tz.to_string(),
            listen: self.listen.to_string(),
            open_minute,
            close_minute,
            after_hours_quota: self.after_hours_quota,
            attachment_expiry_ms: parse_duration_ms(self.attachment_expiry)
                .map_err(|e| NodeError::user(format!("--attachment-expiry: {e}")))?,
        }))
    }
}

/// A satker node's config: its satker code and the hub it is pinned to.
pub fn satker(satker: &str, hub: &str, hub_id: &str) -> Result<NodeConfig, NodeError> {
    check_satker_code(satker)?;
    check_addr(hub)?;
    Ok(NodeConfig::Satker {
        satker: satker.to_string(),
        hub: hub.to_string(),
        hub_id: parse_hub_id(hub_id)?,
    })
}

/// An auditor node's config: the hub it is pinned to.
pub fn auditor(hub: &str, hub_id: &str) -> Result<NodeConfig, NodeError> {
    check_addr(hub)?;
    Ok(NodeConfig::Auditor {
        hub: hub.to_string(),
        hub_id: parse_hub_id(hub_id)?,
    })
}

fn parse_hub_id(text: &str) -> Result<NodeId, NodeError> {
    text.parse().map_err(|_| {
        NodeError::user(format!(
            "'{text}' is not a hub id; copy it exactly as `espm id` prints it on the hub"
        ))
    })
}

/// Checks that `text` looks like `host:port` (a host name, an IPv4 address or a
/// bracketed IPv6 address, and a port) without resolving it: a satker set up offline
/// names its KPPN by host name, which is resolved only when it connects.
fn check_addr(text: &str) -> Result<(), NodeError> {
    if text.parse::<std::net::SocketAddr>().is_ok() || is_host_and_port(text) {
        return Ok(());
    }
    Err(NodeError::user(format!(
        "'{text}' is not a host:port address; write it like kppn019.example.go.id:4433 or 10.0.0.5:4433"
    )))
}

/// A DNS host name (letters, digits, hyphens, dots; labels of 1 to 63 characters,
/// not starting or ending with a hyphen) and a port from 1 to 65535.
fn is_host_and_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0);
    let host = host.strip_suffix('.').unwrap_or(host);
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hub_named_by_a_host_name_that_does_not_resolve_offline_is_accepted_at_init() {
        for addr in [
            "kppn019.invalid:4433",
            "localhost:4433",
            "10.0.0.5:4433",
            "[::1]:4433",
            "kppn-019.djpb.kemenkeu.go.id.:4433",
        ] {
            assert!(check_addr(addr).is_ok(), "{addr} refused");
        }
    }

    #[test]
    fn a_hub_address_without_a_port_or_with_a_bad_host_is_refused_at_init() {
        for addr in [
            "kppn019",
            "kppn019:",
            "kppn019:0",
            "kppn019:65536",
            "kppn019:44x3",
            ":4433",
            "kppn 019:4433",
            "-kppn.go.id:4433",
            "kppn..go.id:4433",
            "::1:4433",
            "kppn/019:4433",
        ] {
            match check_addr(addr) {
                Err(NodeError::User(m)) => {
                    assert!(m.starts_with(&format!("'{addr}' is not a host:port address")))
                }
                other => panic!("{addr} accepted: {other:?}"),
            }
        }
    }
}
