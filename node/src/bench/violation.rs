//! What one hostile device did in the `limits` scenario, what came of it, and how
//! that is reported.

use std::time::Instant;

use serde_json::json;

use crate::error::NodeError;

/// What a violation led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The connection was closed.
    Closed,
    /// The hub aborted the session with a reason.
    Aborted,
    /// The hub refused the item with a reason and carried on.
    Refused,
    /// The client's QUIC stack would not go past the hub's limit.
    Blocked,
    /// The hub closed a silent connection when its idle timer ran out.
    TimedOut,
    /// The hub took what it should have refused.
    Accepted,
    /// The connection stayed open.
    StayedOpen,
    /// Not run (it would take too long without being asked for).
    Skipped,
    /// The case could not be run as designed.
    Failed,
}

impl Outcome {
    /// The word the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Closed => "closed",
            Outcome::Aborted => "aborted",
            Outcome::Refused => "refused",
            Outcome::Blocked => "blocked",
            Outcome::TimedOut => "timed-out",
            Outcome::Accepted => "accepted",
            Outcome::StayedOpen => "stayed-open",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// One limit broken by one hostile device, and what came of it.
#[derive(Clone, Debug)]
pub(super) struct Violation {
    /// Which limit.
    pub limit: &'static str,
    /// The limit as configured.
    pub configured: String,
    /// What the hostile device did.
    pub attempt: String,
    /// What came of it.
    pub outcome: Outcome,
    /// Whether the hub held the line; `None` when the case was skipped.
    pub enforced: Option<bool>,
    /// What the hostile device saw, in words.
    pub observed: String,
    /// The hub's own account, where its connection handler gave one.
    pub hub_reason: Option<String>,
    /// Whether the hostile device's connection was still open afterwards.
    pub connection_open_after: Option<bool>,
    /// How long the case took.
    pub seconds: f64,
}

impl Violation {
    pub(super) fn new(limit: &'static str, configured: String, attempt: String) -> Violation {
        Violation {
            limit,
            configured,
            attempt,
            outcome: Outcome::Failed,
            enforced: Some(false),
            observed: String::new(),
            hub_reason: None,
            connection_open_after: None,
            seconds: 0.0,
        }
    }

    /// Records a case that could not run as designed; it never counts as enforced.
    pub(super) fn failed(mut self, e: &NodeError, started: Instant) -> Violation {
        self.outcome = Outcome::Failed;
        self.enforced = Some(false);
        self.observed = format!("the case could not run: {e}");
        self.seconds = started.elapsed().as_secs_f64();
        self
    }

    /// The entry of the report's `violations` array.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "limit": self.limit,
            "configured": self.configured,
            "attempt": self.attempt,
            "outcome": self.outcome.as_str(),
            "enforced": self.enforced,
            "observed": self.observed,
            "hub_reason": self.hub_reason,
            "connection_open_after": self.connection_open_after,
            "seconds": self.seconds,
        })
    }

    /// One line for people.
    pub fn text(&self) -> String {
        let verdict = match self.enforced {
            Some(true) => "held",
            Some(false) => "NOT HELD",
            None => "skipped",
        };
        let mut line = format!(
            "  {} ({}): {} -> {}: {}",
            self.limit,
            self.configured,
            self.attempt,
            self.outcome.as_str(),
            self.observed
        );
        if let Some(r) = &self.hub_reason {
            line.push_str(&format!("; hub: {r}"));
        }
        line.push_str(&format!(" [{verdict}]"));
        line
    }
}
