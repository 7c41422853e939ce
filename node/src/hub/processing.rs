//! Document journeys: `status` everywhere, and KPPN processing on the hub.

use std::collections::BTreeMap;

use serde_json::json;
use storage::Table;
use sync_protocol::{status::DocState, status::StatusUpdate, stream::StreamId, Item};

use crate::cli::run::Output;
use crate::{
    clock,
    config::{HubConfig, NodeConfig},
    docs,
    error::{NodeError, Result},
    hub::publish::issue,
    node::Node,
    records::{DocRecord, RefusalRecord},
};

fn doc_json(r: &DocRecord) -> serde_json::Value {
    let history: Vec<_> = r
        .history
        .iter()
        .map(|h| {
            let mut e = json!({ "state": h.state.as_str(), "at": clock::rfc3339(h.at) });
            if let Some(reason) = &h.reason {
                e["reason"] = json!(reason);
            }
            e
        })
        .collect();
    json!({ "doc_id": r.doc_id, "kind": r.kind.as_str(), "satker": r.satker, "state": r.state.as_str(), "history": history })
}

fn doc_text(r: &DocRecord, tz: Option<&str>) -> String {
    let mut t = format!(
        "{} {} (satker {}): {}\n",
        r.kind, r.doc_id, r.satker, r.state
    );
    for h in &r.history {
        let at = match tz {
            Some(z) => clock::local(h.at, z),
            None => clock::rfc3339(h.at),
        };
        t.push_str(&format!("  {:<10} {at}", h.state.as_str()));
        if let Some(reason) = &h.reason {
            t.push_str(&format!("  — {reason}"));
        }
        t.push('\n');
    }
    t
}

/// `espm status [DOC_ID]`
pub fn status(node: &Node, doc_id: Option<&str>) -> Result<Output> {
    let tz = node.tz()?;
    match doc_id {
        Some(id) => {
            let r = docs::resolve(node, id)?;
            Ok(Output::new(
                doc_json(&r),
                doc_text(&r, tz.as_deref()).trim_end(),
            ))
        }
        None => {
            let all = docs::all(&node.store)?;
            let json: Vec<_> = all.iter().map(doc_json).collect();
            let text = if all.is_empty() {
                "No documents yet.".to_string()
            } else {
                all.iter()
                    .map(|r| doc_text(r, tz.as_deref()))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok(Output::new(json.into(), text.trim_end()))
        }
    }
}

fn hub_config(node: &Node, what: &str) -> Result<HubConfig> {
    node.require_hub(what)?;
    match &node.config {
        NodeConfig::Hub(h) => Ok(h.clone()),
        _ => Err(NodeError::user(format!("`{what}` runs on the KPPN hub"))),
    }
}

/// `espm inbox`
pub fn inbox(node: &Node) -> Result<Output> {
    let hub = hub_config(node, "inbox")?;
    let rows: Vec<DocRecord> = docs::all(&node.store)?
        .into_iter()
        .filter(|r| r.state == DocState::Delivered)
        .collect();
    let json: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({ "doc_id": r.doc_id, "kind": r.kind.as_str(), "satker": r.satker,
                    "delivered_at": r.delivered_at.map(clock::rfc3339) })
        })
        .collect();
    let text = if rows.is_empty() {
        "The inbox is empty.".to_string()
    } else {
        let mut t = format!(
            "{:<24} {:<14} {:<10} {}\n",
            "DOCUMENT", "KIND", "SATKER", "DELIVERED"
        );
        for r in &rows {
            let at = r
                .delivered_at
                .map(|a| clock::local(a, &hub.tz))
                .unwrap_or_default();
            t.push_str(&format!(
                "{:<24} {:<14} {:<10} {at}\n",
                r.doc_id,
                r.kind.as_str(),
                r.satker
            ));
        }
        t
    };
    Ok(Output::new(json.into(), text.trim_end()))
}

fn hub_doc(node: &Node, doc_id: &str) -> Result<DocRecord> {
    docs::resolve(node, doc_id)
}

fn record_status(
    node: &Node,
    mut rec: DocRecord,
    state: DocState,
    reason: Option<String>,
    by: &str,
) -> Result<DocRecord> {
    let now = node.now();
    let key = node.service_key("record a status update")?;
    node.store.write(|t| {
        let update = StatusUpdate {
            doc_id: rec.doc_id.clone(),
            satker: rec.satker.clone(),
            state,
            at: now,
            reason: reason.clone(),
            by: by.to_string(),
        };
        issue(
            t,
            key,
            Item::Status(update),
            Some(&StreamId::Notices(rec.satker.clone())),
        )?;
        rec.enter(state, now, reason.clone());
        docs::put(t, &rec);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(rec)
}

/// Whether `now` falls in the KPPN's service hours: a working day (Monday to Friday),
/// between open and close, local time of the KPPN.
fn in_service_hours(hub: &HubConfig, now: jiff::Zoned) -> bool {
    let weekday = now.weekday().to_monday_one_offset();
    let minute = now.hour() as u32 * 60 + now.minute() as u32;
    weekday <= 5 && minute >= hub.open_minute && minute < hub.close_minute
}

/// `espm take`
pub fn take(node: &Node, doc_id: &str) -> Result<Output> {
    let hub = hub_config(node, "take")?;
    let rec = hub_doc(node, doc_id)?;
    if rec.state != DocState::Delivered {
        return Err(NodeError::user(format!(
            "document {doc_id} is {}; only delivered documents can be taken in",
            rec.state
        )));
    }
    let tz = jiff::tz::TimeZone::get(&hub.tz)
        .map_err(|e| NodeError::user(format!("time zone {}: {e}", hub.tz)))?;
    let local = jiff::Timestamp::now().to_zoned(tz);
    let mut after_hours = false;
    if !in_service_hours(&hub, local.clone()) {
        let day = local.date().to_string();
        let key = format!("after-hours-{day}");
        let used = node.store.get::<u64>(Table::Counter, &key)?.unwrap_or(0);
        if used >= hub.after_hours_quota as u64 {
            return Err(NodeError::user(format!(
                "it is outside service hours ({:02}:{:02}-{:02}:{:02} {}, Monday to Friday) and today's after-hours quota of {} is used up; take it in on the next working day, or ask the Kepala KPPN to raise the quota",
                hub.open_minute / 60, hub.open_minute % 60, hub.close_minute / 60, hub.close_minute % 60,
                local.strftime("%Z"), hub.after_hours_quota
            )));
        }
        node.store.write(|t| {
            t.put(Table::Counter, &key, &(used + 1));
            Ok(())
        })?;
        after_hours = true;
    }
    let rec = record_status(node, rec, DocState::Received, None, "operator-kppn")?;
    let at = rec.history.last().map(|h| h.at).unwrap_or_else(clock::wall);
    Ok(Output::new(
        json!({ "doc_id": doc_id, "received_at": clock::rfc3339(at) }),
        format!(
            "Received {doc_id} at {}{}.",
            clock::local(at, &hub.tz),
            if after_hours {
                " (after hours, counted against today's quota)"
            } else {
                ""
            }
        ),
    ))
}

/// `espm advance`
pub fn advance(node: &Node, doc_id: &str, stage: &str) -> Result<Output> {
    hub_config(node, "advance")?;
    let stage: DocState = stage.parse()?;
    let rec = hub_doc(node, doc_id)?;
    match rec.state.next_stage() {
        Some(next) if next == stage => {}
        Some(next) => {
            return Err(NodeError::user(format!(
                "document {doc_id} is in {}; the next stage is {next}, not {stage}",
                rec.state
            )))
        }
        None => {
            return Err(NodeError::user(format!(
                "document {doc_id} is {}; it cannot move to {stage}{}",
                rec.state,
                if rec.state == DocState::Delivered {
                    " before it is taken in (`espm take`)"
                } else {
                    ""
                }
            )))
        }
    }
    let rec = record_status(node, rec, stage, None, stage.as_str())?;
    Ok(Output::new(
        json!({ "doc_id": doc_id, "state": rec.state.as_str() }),
        format!("{doc_id} is now {}.", rec.state),
    ))
}

/// `espm reject`
pub fn reject(node: &Node, doc_id: &str, reason: &str) -> Result<Output> {
    hub_config(node, "reject")?;
    if reason.trim().is_empty() {
        return Err(NodeError::user("give the satker a reason with --reason"));
    }
    let rec = hub_doc(node, doc_id)?;
    if !rec.state.rejectable() {
        return Err(NodeError::user(format!(
            "document {doc_id} is {}; it can no longer be rejected",
            rec.state
        )));
    }
    let rec = record_status(
        node,
        rec,
        DocState::Rejected,
        Some(reason.to_string()),
        "kppn",
    )?;
    Ok(Output::new(
        json!({ "doc_id": doc_id, "state": rec.state.as_str() }),
        format!("Rejected {doc_id}: {reason}. The satker sees the reason at its next sync."),
    ))
}

/// `espm monitor`
pub fn monitor(node: &Node) -> Result<Output> {
    hub_config(node, "monitor")?;
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in docs::all(&node.store)? {
        *counts
            .entry(r.satker)
            .or_default()
            .entry(r.state.as_str().to_string())
            .or_default() += 1;
    }
    let mut by_device: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for (_, r) in node.store.list::<RefusalRecord>(Table::Refusal, "")? {
        if let Some(d) = r.device {
            let e = by_device.entry(d).or_default();
            e.0 += 1;
            e.1 = r.reason;
        }
    }
    let alerts: Vec<String> = by_device
        .iter()
        .map(|(d, (n, last))| {
            format!(
                "device {}… sent {n} item(s) the hub refused; last: {last}",
                &d[..12.min(d.len())]
            )
        })
        .collect();
    let rows: Vec<_> = counts
        .iter()
        .map(|(s, c)| json!({ "satker": s, "counts": c }))
        .collect();
    let mut text = String::new();
    for (s, c) in &counts {
        text.push_str(&format!(
            "satker {s}: {}\n",
            c.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if counts.is_empty() {
        text.push_str("No documents yet.\n");
    }
    for a in &alerts {
        text.push_str(&format!("ALERT: {a}\n"));
    }
    Ok(Output::new(
        json!({ "satker": rows, "counts": counts, "alerts": alerts }),
        text.trim_end(),
    ))
}
