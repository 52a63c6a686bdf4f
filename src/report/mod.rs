//! Situation reports (issue 16): daily, weekly and monthly reports for an audience (a role
//! and an organisation), after OCHA's situation reports and access snapshots, as HTML and PDF
//! through the document engine (`document`).
//!
//! A report is made from the log up to one sequence number, its `seq`: the picture when the
//! period began (`replay::picture_at`), then the period's events in order (`facts::note`),
//! then what the picture holds at `seq` (`facts::at_end`). Nothing else goes in (no clock,
//! no live state), so making it again at the same `seq` for the same audience, period and
//! language gives the same document. Every item counted passed `Policy::decide` for the
//! audience and is read from `feature::render` (`facts`); every count links to the ids behind
//! it (`compose`). `schedule` says when the configured reports are due.

pub mod charts;
pub mod compose;
pub mod facts;
pub mod figures;
pub mod map;
pub mod schedule;
pub mod task;
pub mod words;

use chrono::{DateTime, Duration, FixedOffset, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::document::{self, Document, Lang};
use crate::gazetteer::Gazetteer;
use crate::log::format_time;
use crate::picture::Picture;
use crate::policy::{Policy, Viewer};
use crate::replay::{picture_at, ReplayError};
use crate::store::EventStore;

/// Records read per query while going through the period.
const CHUNK: u32 = 5_000;
/// The longest period a report covers.
pub const MAX_DAYS: i64 = 93;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Daily,
    Weekly,
    Monthly,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Daily => "daily",
            Kind::Weekly => "weekly",
            Kind::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "daily" => Some(Kind::Daily),
            "weekly" => Some(Kind::Weekly),
            "monthly" => Some(Kind::Monthly),
            _ => None,
        }
    }

    /// The start of the period of this kind that ends at `to`.
    pub fn start(self, to: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Kind::Daily => to - Duration::days(1),
            Kind::Weekly => to - Duration::days(7),
            Kind::Monthly => to.checked_sub_months(Months::new(1)).unwrap_or(to),
        }
    }

    /// The end of the period of this kind that starts at `from`.
    pub fn end(self, from: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Kind::Daily => from + Duration::days(1),
            Kind::Weekly => from + Duration::days(7),
            Kind::Monthly => from.checked_add_months(Months::new(1)).unwrap_or(from),
        }
    }
}

/// A half-open interval of time, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    /// The period of the same length just before this one.
    pub fn previous(&self) -> Period {
        Period {
            from: self.from - (self.to - self.from),
            to: self.from,
        }
    }

    /// The period a request names: `from` and `to` as given, a missing one from the kind's
    /// length, both missing the one that ends `now`. An error says what is wrong.
    pub fn of_request(
        kind: Kind,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Period, String> {
        let (from, to) = match (from, to) {
            (Some(f), Some(t)) => (f, t),
            (Some(f), None) => (f, kind.end(f)),
            (None, Some(t)) => (kind.start(t), t),
            (None, None) => (kind.start(now), now),
        };
        if to <= from {
            return Err("`to` must be after `from`".into());
        }
        if to - from > Duration::days(MAX_DAYS) {
            return Err(format!("a report covers at most {MAX_DAYS} days"));
        }
        let bounds = |t: DateTime<Utc>| (2000..2200).contains(&chrono::Datelike::year(&t));
        if !bounds(from) || !bounds(to) {
            return Err("`from` and `to` must lie within the years 2000-2199".into());
        }
        if from > now {
            return Err("`from` must not be in the future".into());
        }
        Ok(Period { from, to })
    }
}

/// Who a report is for and what it covers: everything that, with the log up to `seq`,
/// decides its content.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: Kind,
    pub period: Period,
    pub lang: Lang,
    pub viewer: Viewer,
    /// The report's id (in the PDF's identifier and the footer).
    pub id: String,
    /// The centre's name.
    pub centre: String,
    /// The zone dates are shown in.
    pub zone: FixedOffset,
}

/// A made report.
pub struct Made {
    pub html: String,
    pub pdf: Vec<u8>,
    /// (name, SVG) of each figure (`figures::Figure`).
    pub figures: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Pdf(#[from] document::PdfError),
}

impl From<crate::store::StoreError> for ReportError {
    fn from(e: crate::store::StoreError) -> ReportError {
        ReportError::Replay(ReplayError::Store(e))
    }
}

/// The sequence number a report of `period` is made from, when the log's head is `head`: the
/// last event stamped before the period's end, or the head for a period not yet over.
pub async fn seq_for(
    store: &dyn EventStore,
    period: &Period,
    head: u64,
    now: DateTime<Utc>,
) -> Result<u64, ReportError> {
    if period.to > now {
        return Ok(head);
    }
    // `seq_at` counts events stamped at or before a moment; the period excludes its end.
    let at = period.to - Duration::microseconds(1);
    Ok(store.seq_at(&format_time(at)).await?.min(head))
}

/// The facts of a report from the log up to `seq`.
pub async fn gather(
    store: &dyn EventStore,
    policy: &Policy,
    gazetteer: &Gazetteer,
    spec: &Spec,
    seq: u64,
) -> Result<facts::Facts, ReportError> {
    let ask = facts::Ask {
        policy,
        viewer: &spec.viewer,
        gazetteer,
        period: spec.period,
        previous: spec.period.previous(),
    };
    let start = store
        .seq_at(&format_time(spec.period.from - Duration::microseconds(1)))
        .await?
        .min(seq);
    let mut picture: Picture = picture_at(store, start).await?;
    let mut out = facts::Facts::default();
    loop {
        let (after, hash) = picture.head();
        if after >= seq {
            break;
        }
        let records = store.read(after, CHUNK.min((seq - after) as u32)).await?;
        if records.is_empty() {
            break;
        }
        let mut prev = (after > 0).then_some((after, hash));
        for r in &records {
            let corrupt = |e: String| ReportError::Replay(ReplayError::Corrupt(e));
            r.check(prev).map_err(|e| corrupt(e.to_string()))?;
            let event = r.to_event().map_err(|e| corrupt(e.to_string()))?;
            let before = picture.get(&event.item_id).cloned();
            picture
                .replay(&event, r.hash)
                .map_err(|e| corrupt(e.to_string()))?;
            let after = picture.get(&event.item_id).cloned();
            facts::note(&ask, &mut out, &event, before.as_ref(), after.as_ref());
            prev = Some((r.seq, r.hash));
        }
    }
    facts::at_end(&ask, &mut out, &picture);
    Ok(out)
}

/// The report's document from its facts.
pub fn document(spec: &Spec, seq: u64, facts: &facts::Facts, gazetteer: &Gazetteer) -> Document {
    compose::compose(spec, seq, facts, gazetteer)
}

/// Lays out a report from its facts: HTML, PDF and figures.
pub fn lay_out(
    spec: &Spec,
    seq: u64,
    facts: &facts::Facts,
    gazetteer: &Gazetteer,
) -> Result<Made, ReportError> {
    let doc = document(spec, seq, facts, gazetteer);
    let html = document::to_html(&doc);
    let pdf = document::to_pdf(&doc, &spec.id)?;
    let figures = figures::all(spec, facts, gazetteer);
    Ok(Made { html, pdf, figures })
}

/// Makes the report at `seq`: HTML, PDF and figures.
pub async fn make(
    store: &dyn EventStore,
    policy: &Policy,
    gazetteer: &Gazetteer,
    spec: &Spec,
    seq: u64,
) -> Result<Made, ReportError> {
    let facts = gather(store, policy, gazetteer, spec, seq).await?;
    lay_out(spec, seq, &facts, gazetteer)
}

#[cfg(test)]
mod tests;
