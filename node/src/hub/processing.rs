//! KPPN processing on the hub: an Operator KPPN takes a delivered document in (the
//! legal "received" time), within the KPPN's service hours or its after-hours quota;
//! the processing stages move it on or reject it with a reason. Each step is one atomic
//! store write: the state check, the quota and the status update the satker receives.

use storage::Txn;
use sync_protocol::{DocState, Item, SecretKey, StatusUpdate, StreamId, Timestamp};

use crate::{
    config::{HubConfig, NodeConfig},
    docs,
    error::{NodeError, Result},
    hub::publish::issue,
    node::Node,
    records::DocRecord,
    schema::AFTER_HOURS,
};

/// Whether a moment falls in the KPPN's service hours, and if not, the local day whose
/// after-hours quota it counts against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intake {
    /// A working day (Monday to Friday), between opening and closing, local time.
    InHours,
    /// Outside them: counted against the quota of this local day (YYYY-MM-DD).
    AfterHours {
        /// The KPPN's local date.
        day: String,
    },
}

/// When `at` falls for `hub`, in the KPPN's own time zone: the service-hours rule.
pub fn intake(hub: &HubConfig, at: Timestamp) -> Result<Intake> {
    let tz = jiff::tz::TimeZone::get(&hub.tz)
        .map_err(|e| NodeError::user(format!("time zone {}: {e}", hub.tz)))?;
    let local = jiff::Timestamp::from_millisecond(at.0)
        .map_err(|e| NodeError::user(format!("the time {} cannot be shown: {e}", at.0)))?
        .to_zoned(tz);
    let weekday = local.weekday().to_monday_one_offset();
    let minute = local.hour() as u32 * 60 + local.minute() as u32;
    if weekday <= 5 && minute >= hub.open_minute && minute < hub.close_minute {
        Ok(Intake::InHours)
    } else {
        Ok(Intake::AfterHours {
            day: local.date().to_string(),
        })
    }
}

/// A document taken in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Its id.
    pub doc_id: String,
    /// The legal "received" time.
    pub received_at: Timestamp,
    /// Whether it counted against the after-hours quota.
    pub after_hours: bool,
    /// The KPPN's time zone, for showing the time.
    pub tz: String,
}

/// A document moved to a new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    /// Its id.
    pub doc_id: String,
    /// The state it is in now.
    pub state: DocState,
    /// The reason given, for a rejection.
    pub reason: Option<String>,
}

fn hub_config<'a>(node: &'a Node, what: &str) -> Result<&'a HubConfig> {
    node.require_hub(what)?;
    match &node.config {
        NodeConfig::Hub(h) => Ok(h),
        _ => Err(NodeError::user(format!("`{what}` runs on the KPPN hub"))),
    }
}

/// Within `t`: records the status update the satker will receive and moves the record.
fn record_status(
    t: &mut Txn<'_>,
    key: &SecretKey,
    rec: &mut DocRecord,
    state: DocState,
    reason: Option<String>,
    by: &str,
    now: Timestamp,
) -> std::result::Result<(), storage::StoreError> {
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
    rec.enter(state, now, reason);
    docs::put(t, rec);
    Ok(())
}

/// Why a step could not be taken, decided inside the write so nothing was spent.
enum Refusal {
    State(DocState),
    QuotaUsed,
}

/// Takes a delivered document in now: `espm take`. Outside service hours it counts
/// against the day's after-hours quota; the count, the state check and the status
/// update are one atomic write, so concurrent takes never pass the quota and a refused
/// take spends nothing.
pub fn take(node: &Node, doc_id: &str) -> Result<Taken> {
    let hub = hub_config(node, "take")?;
    let rec = docs::resolve(node, doc_id)?;
    let key = node.service_key("take")?;
    let now = node.now();
    let intake = intake(hub, now)?;
    let quota_key = match &intake {
        Intake::AfterHours { day } => Some(day.clone()),
        Intake::InHours => None,
    };
    let outcome = node.store.write(|t| {
        // Read again under the write lock: another take may have come first.
        let Some(mut rec) = docs::get(t, &rec.satker, &rec.doc_id)? else {
            return Ok(Err(Refusal::State(rec.state)));
        };
        if rec.state != DocState::Delivered {
            return Ok(Err(Refusal::State(rec.state)));
        }
        if let Some(k) = &quota_key {
            let used = AFTER_HOURS.get_in(t, k)?.unwrap_or(0);
            if used >= u64::from(hub.after_hours_quota) {
                return Ok(Err(Refusal::QuotaUsed));
            }
            AFTER_HOURS.put(t, k, &(used + 1));
        }
        record_status(
            t,
            key,
            &mut rec,
            DocState::Received,
            None,
            "operator-kppn",
            now,
        )?;
        Ok(Ok(rec))
    })?;
    match outcome {
        Ok(_) => {
            node.store.flush()?;
            Ok(Taken {
                doc_id: doc_id.to_string(),
                received_at: now,
                after_hours: quota_key.is_some(),
                tz: hub.tz.clone(),
            })
        }
        Err(Refusal::State(state)) => Err(NodeError::user(format!(
            "document {doc_id} is {state}; only delivered documents can be taken in"
        ))),
        Err(Refusal::QuotaUsed) => {
            let zone = jiff::tz::TimeZone::get(&hub.tz)
                .ok()
                .and_then(|z| {
                    jiff::Timestamp::from_millisecond(now.0)
                        .ok()
                        .map(|ts| ts.to_zoned(z).strftime("%Z").to_string())
                })
                .unwrap_or_else(|| hub.tz.clone());
            Err(NodeError::user(format!(
                "it is outside service hours ({:02}:{:02}-{:02}:{:02} {zone}, Monday to Friday) and today's after-hours quota of {} is used up; take it in on the next working day, or ask the Kepala KPPN to raise the quota",
                hub.open_minute / 60,
                hub.open_minute % 60,
                hub.close_minute / 60,
                hub.close_minute % 60,
                hub.after_hours_quota
            )))
        }
    }
}

/// Moves a document one stage on: `espm advance`.
pub fn advance(node: &Node, doc_id: &str, stage: DocState) -> Result<Moved> {
    hub_config(node, "advance")?;
    let rec = docs::resolve(node, doc_id)?;
    let key = node.service_key("advance")?;
    let now = node.now();
    let outcome = node.store.write(|t| {
        let Some(mut rec) = docs::get(t, &rec.satker, &rec.doc_id)? else {
            return Ok(Err(rec.state));
        };
        if rec.state.next_stage() != Some(stage) {
            return Ok(Err(rec.state));
        }
        record_status(t, key, &mut rec, stage, None, stage.as_str(), now)?;
        Ok(Ok(()))
    })?;
    match outcome {
        Ok(()) => {
            node.store.flush()?;
            Ok(Moved {
                doc_id: doc_id.to_string(),
                state: stage,
                reason: None,
            })
        }
        Err(state) => Err(match state.next_stage() {
            Some(next) => NodeError::user(format!(
                "document {doc_id} is in {state}; the next stage is {next}, not {stage}"
            )),
            None => NodeError::user(format!(
                "document {doc_id} is {state}; it cannot move to {stage}{}",
                if state == DocState::Delivered {
                    " before it is taken in (`espm take`)"
                } else {
                    ""
                }
            )),
        }),
    }
}

/// Rejects a document with a reason the satker sees: `espm reject`.
pub fn reject(node: &Node, doc_id: &str, reason: &str) -> Result<Moved> {
    hub_config(node, "reject")?;
    if reason.trim().is_empty() {
        return Err(NodeError::user("give the satker a reason with --reason"));
    }
    let rec = docs::resolve(node, doc_id)?;
    let key = node.service_key("reject")?;
    let now = node.now();
    let outcome = node.store.write(|t| {
        let Some(mut rec) = docs::get(t, &rec.satker, &rec.doc_id)? else {
            return Ok(Err(rec.state));
        };
        if !rec.state.rejectable() {
            return Ok(Err(rec.state));
        }
        record_status(
            t,
            key,
            &mut rec,
            DocState::Rejected,
            Some(reason.to_string()),
            "kppn",
            now,
        )?;
        Ok(Ok(()))
    })?;
    match outcome {
        Ok(()) => {
            node.store.flush()?;
            Ok(Moved {
                doc_id: doc_id.to_string(),
                state: DocState::Rejected,
                reason: Some(reason.to_string()),
            })
        }
        Err(state) => Err(NodeError::user(format!(
            "document {doc_id} is {state}; it can no longer be rejected"
        ))),
    }
}

#[cfg(test)]
mod tests;
