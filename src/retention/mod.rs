//! Forget policies: which snapshots to keep, and why.
//!
//! The semantics are restic's `forget --keep-*` (restic 0.17), applied to the snapshots
//! of one account at a time:
//!
//! - `last n` keeps the n newest snapshots.
//! - `hourly`/`daily`/`weekly`/`monthly`/`yearly n` look at the n newest calendar periods
//!   *that have snapshots* (empty periods are skipped, not counted) and keep the newest
//!   snapshot of each. Periods are natural calendar boundaries in the given time zone, not
//!   relative to now; weeks are ISO weeks (Monday to Sunday, so 30 December 2024 is in
//!   week 1 of 2025).
//! - When a counting rule still has periods left after the oldest snapshot, that oldest
//!   snapshot is kept too (reason `oldest <rule> snapshot`), so a young vault keeps its
//!   first history instead of only the newest snapshot of the only year it has.
//! - [`UNLIMITED`] as a count keeps every period (and so also the oldest snapshot).
//! - `within` keeps every snapshot taken strictly after (newest − span), where "newest" is
//!   the newest snapshot not in the future: a snapshot with a clock-skewed future date
//!   cannot push the window forward, and is itself always kept by `within`.
//! - Rules are independent and OR-ed: a snapshot kept by several rules is listed once,
//!   with one reason per rule, in the order last, hourly, daily, weekly, monthly, yearly,
//!   within.
//! - A count of 0 (or `None`) disables its rule. A policy with no rule at all keeps
//!   everything ([`EMPTY_POLICY_REASON`]); the CLI must refuse it before getting here.

mod span;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

pub use span::{ParseSpanError, Span};

/// A count meaning "every period" (the CLI spells it `unlimited`): more periods than any
/// vault can hold, so counting it down never runs out.
pub const UNLIMITED: u32 = u32::MAX;

/// The reason given to every snapshot when the policy has no rule.
pub const EMPTY_POLICY_REASON: &str = "empty policy keeps everything";

/// Which snapshots to keep. Counts are `None` or `Some(0)` when the rule is off.
/// As a configuration table its keys are the `forget` flags' names (`keep_daily = 7`,
/// `keep_yearly = "unlimited"`, `keep_within = "90d"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default, rename = "keep_last", deserialize_with = "de::count")]
    pub last: Option<u32>,
    #[serde(default, rename = "keep_hourly", deserialize_with = "de::count")]
    pub hourly: Option<u32>,
    #[serde(default, rename = "keep_daily", deserialize_with = "de::count")]
    pub daily: Option<u32>,
    #[serde(default, rename = "keep_weekly", deserialize_with = "de::count")]
    pub weekly: Option<u32>,
    #[serde(default, rename = "keep_monthly", deserialize_with = "de::count")]
    pub monthly: Option<u32>,
    #[serde(default, rename = "keep_yearly", deserialize_with = "de::count")]
    pub yearly: Option<u32>,
    #[serde(default, rename = "keep_within", deserialize_with = "de::span")]
    pub within: Option<Span>,
}

/// The policy's fields read from a configuration file, with the flags' parsers.
mod de {
    use serde::{Deserialize, Deserializer};

    /// A count: a number or `"unlimited"`.
    pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Count {
            N(u32),
            Word(String),
        }
        match Count::deserialize(d)? {
            Count::N(n) => Ok(Some(n)),
            Count::Word(w) => super::parse_count(&w)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }

    pub fn span<'de, D: Deserializer<'de>>(d: D) -> Result<Option<super::Span>, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

impl Policy {
    /// True when no rule is on: such a policy keeps everything.
    pub fn is_empty(&self) -> bool {
        self.within.is_none() && self.counting_rules().next().is_none()
    }

    /// The counting rules that are on, in reason order.
    fn counting_rules(&self) -> impl Iterator<Item = (Period, u32)> {
        [
            (Period::Last, self.last),
            (Period::Hourly, self.hourly),
            (Period::Daily, self.daily),
            (Period::Weekly, self.weekly),
            (Period::Monthly, self.monthly),
            (Period::Yearly, self.yearly),
        ]
        .into_iter()
        .filter_map(|(period, count)| count.filter(|n| *n > 0).map(|n| (period, n)))
    }
}

/// For `--dry-run` headers, e.g. "keep 4 last, 7 daily, all monthly snapshots and all
/// snapshots within 90d of the newest".
impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("keep everything (empty policy)");
        }
        let counts: Vec<String> = self
            .counting_rules()
            .map(|(period, n)| match n {
                UNLIMITED => format!("all {}", period.name()),
                n => format!("{n} {}", period.name()),
            })
            .collect();
        let mut parts = Vec::new();
        if !counts.is_empty() {
            parts.push(format!("{} snapshots", counts.join(", ")));
        }
        if let Some(span) = &self.within {
            parts.push(format!("all snapshots within {span} of the newest"));
        }
        write!(f, "keep {}", parts.join(" and "))
    }
}

/// A `--keep-*` count that is neither a number nor `unlimited`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid count {text:?}: give a whole number (0 or more) or \"unlimited\" to keep \
     every period"
)]
pub struct ParseCountError {
    pub text: String,
}

/// Parses a `--keep-*` count: a whole number, or `unlimited` ([`UNLIMITED`]).
/// Negative numbers are refused (restic's old `-1` meant "all"; say `unlimited`).
pub fn parse_count(text: &str) -> Result<u32, ParseCountError> {
    match text {
        "unlimited" => Ok(UNLIMITED),
        _ => text.parse().map_err(|_| ParseCountError {
            text: text.to_string(),
        }),
    }
}

/// A snapshot the policy decides about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub taken_at: DateTime<Utc>,
}

/// What the policy decided for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub taken_at: DateTime<Utc>,
    pub keep: bool,
    /// Why it is kept, e.g. `["last snapshot", "daily snapshot"]` or `["within 90d"]`;
    /// empty exactly when it is removed.
    pub reasons: Vec<String>,
}

/// Applies `policy` to ONE account's snapshots, given in any order. Returns one decision
/// per snapshot, newest first (equal times are ordered by id, so the result does not
/// depend on the input order). Periods are computed in `tz`; `now` only serves to
/// recognise snapshots dated in the future (see the module docs).
pub fn apply(
    policy: &Policy,
    snapshots: &[Candidate],
    now: DateTime<Utc>,
    tz: FixedOffset,
) -> Vec<Decision> {
    let mut sorted: Vec<&Candidate> = snapshots.iter().collect();
    sorted.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.id.cmp(&a.id)));
    let local: Vec<DateTime<FixedOffset>> = sorted
        .iter()
        .map(|c| c.taken_at.with_timezone(&tz))
        .collect();

    let mut reasons = vec![Vec::new(); sorted.len()];
    if policy.is_empty() {
        reasons.fill(vec![EMPTY_POLICY_REASON.to_string()]);
    }
    for (period, count) in policy.counting_rules() {
        keep_per_period(period, count, &local, &mut reasons);
    }
    if let Some(span) = &policy.within {
        keep_within(span, &local, now, &mut reasons);
    }

    sorted
        .into_iter()
        .zip(reasons)
        .map(|(c, reasons)| Decision {
            id: c.id.clone(),
            taken_at: c.taken_at,
            keep: !reasons.is_empty(),
            reasons,
        })
        .collect()
}

/// One counting rule over the snapshots sorted newest first.
fn keep_per_period(
    period: Period,
    count: u32,
    newest_first: &[DateTime<FixedOffset>],
    reasons: &mut [Vec<String>],
) {
    let mut left = count;
    let mut kept_period = None;
    for (i, t) in newest_first.iter().enumerate() {
        if left == 0 {
            return;
        }
        let key = period.key(t);
        if key.is_none() || key != kept_period {
            reasons[i].push(format!("{} snapshot", period.name()));
            kept_period = key;
            left -= 1;
        } else if i + 1 == newest_first.len() {
            reasons[i].push(format!("oldest {} snapshot", period.name()));
        }
    }
}

/// The `within` rule over the snapshots sorted newest first.
fn keep_within(
    span: &Span,
    newest_first: &[DateTime<FixedOffset>],
    now: DateTime<Utc>,
    reasons: &mut [Vec<String>],
) {
    // No past snapshot, or a span reaching before the calendar: everything is within.
    let cutoff = newest_first
        .iter()
        .find(|t| **t <= now)
        .and_then(|newest| span.before(*newest));
    for (i, t) in newest_first.iter().enumerate() {
        let inside = match cutoff {
            Some(cutoff) => *t > cutoff,
            None => true,
        };
        if inside {
            reasons[i].push(format!("within {span}"));
        }
    }
}

/// The calendar period a counting rule groups snapshots by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    /// Every snapshot is a period of its own.
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Period {
    fn name(self) -> &'static str {
        match self {
            Period::Last => "last",
            Period::Hourly => "hourly",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }

    /// Equal keys mean the same period; `None` for [`Period::Last`] (never equal).
    fn key(self, t: &DateTime<FixedOffset>) -> Option<(i32, u32, u32, u32)> {
        match self {
            Period::Last => None,
            Period::Hourly => Some((t.year(), t.month(), t.day(), t.hour())),
            Period::Daily => Some((t.year(), t.month(), t.day(), 0)),
            Period::Weekly => Some((t.iso_week().year(), t.iso_week().week(), 0, 0)),
            Period::Monthly => Some((t.year(), t.month(), 0, 0)),
            Period::Yearly => Some((t.year(), 0, 0, 0)),
        }
    }
}
