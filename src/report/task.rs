//! Making reports off the request path: `Reports::request` stores a pending report and
//! returns at once; a background task makes it (gathering the facts from the store, then
//! laying out the HTML and the PDF on a blocking thread) and stores the result, done or
//! failed. At most `reports.max_running` are made at once. A report made is announced: a
//! `report` notice goes through the writer into the log, and from there to the report's
//! audience over `GET /api/v1/alerts` and the WebSocket (`alerts::report`). `run_schedule`
//! checks every minute which scheduled reports fell due and requests them for each configured
//! audience.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, Utc};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::schedule::{scheduled_id, Schedule};
use super::{Kind, Period, Spec};
use crate::document::Lang;
use crate::gazetteer::Gazetteer;
use crate::log::alert::{Alert, ReportNote};
use crate::log::{format_time, Actor};
use crate::policy::{Channel, Policy, Viewer};
use crate::store::{EventStore, Renderings, ReportRow, StoreError};
use crate::writer::{Command, Writer};

/// What the maker needs.
pub struct Reports {
    store: Arc<dyn EventStore>,
    /// Where the notice that a report was made goes (the server's own write).
    writer: Writer,
    policy: Arc<Policy>,
    gazetteer: Arc<Gazetteer>,
    centre: String,
    zone: FixedOffset,
    running: Arc<Semaphore>,
    max_pending: usize,
    /// Reports waiting or being made, per audience (role, org).
    pending: Arc<Mutex<HashMap<(String, String), usize>>>,
}

/// Why a report was not requested.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0} reports for this audience are already being made; try again when one is done")]
    Busy(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Takes one place of an audience's pending count; gives it back when dropped.
struct Place {
    pending: Arc<Mutex<HashMap<(String, String), usize>>>,
    key: (String, String),
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = p.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                p.remove(&self.key);
            }
        }
    }
}

impl Reports {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn EventStore>,
        writer: Writer,
        policy: Arc<Policy>,
        gazetteer: Arc<Gazetteer>,
        centre: String,
        zone: FixedOffset,
        max_running: usize,
        max_pending: usize,
    ) -> Reports {
        Reports {
            store,
            writer,
            policy,
            gazetteer,
            centre,
            zone,
            running: Arc::new(Semaphore::new(max_running.max(1))),
            max_pending,
            pending: Arc::default(),
        }
    }

    pub fn zone(&self) -> FixedOffset {
        self.zone
    }

    /// Stores a pending report of `period` for `viewer` and starts making it; the row as
    /// stored. `id` is given for scheduled reports (and then a report already there is
    /// returned as it is, not made again); `head` is the log's head now.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        viewer: &Viewer,
        kind: Kind,
        period: Period,
        lang: Lang,
        head: u64,
        now: DateTime<Utc>,
        scheduled: Option<String>,
    ) -> Result<ReportRow, RequestError> {
        let key = (viewer.role.to_string(), viewer.org.to_string());
        let place = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let n = p.entry(key.clone()).or_default();
            if scheduled.is_none() && *n >= self.max_pending {
                return Err(RequestError::Busy(*n));
            }
            *n += 1;
            Place {
                pending: self.pending.clone(),
                key,
            }
        };
        let seq = super::seq_for(&*self.store, &period, head, now)
            .await
            .map_err(|e| match e {
                super::ReportError::Replay(crate::replay::ReplayError::Store(s)) => s,
                other => StoreError::Corrupt(other.to_string()),
            })?;
        let row = ReportRow {
            id: scheduled
                .clone()
                .unwrap_or_else(|| format!("r{}", uuid::Uuid::now_v7().simple())),
            kind: kind.as_str().to_string(),
            lang: lang.code().to_string(),
            period_from: format_time(period.from),
            period_to: format_time(period.to),
            role: viewer.role.to_string(),
            org: viewer.org.to_string(),
            seq,
            status: "pending".into(),
            error: None,
            scheduled: scheduled.is_some(),
            created_at: format_time(now),
            finished_at: None,
        };
        if !self.store.report_insert(&row).await? {
            // A scheduled report someone already made (or is making).
            return Ok(self.store.report_get(&row.id).await?.unwrap_or(row));
        }
        let spec = Spec {
            kind,
            period,
            lang,
            viewer: viewer.clone(),
            id: row.id.clone(),
            centre: self.centre.clone(),
            zone: self.zone,
        };
        let (store, policy, gazetteer, running, writer) = (
            self.store.clone(),
            self.policy.clone(),
            self.gazetteer.clone(),
            self.running.clone(),
            self.writer.clone(),
        );
        tokio::spawn(async move {
            let _place = place;
            let Ok(_permit) = running.acquire_owned().await else {
                return;
            };
            let made = make(store.clone(), policy, gazetteer, spec.clone(), seq).await;
            let finished = format_time(Utc::now());
            let result = match &made {
                Ok(m) => {
                    let rendered = Renderings {
                        html: &m.html,
                        pdf: &m.pdf,
                        figures: &m.figures,
                    };
                    store
                        .report_finish(&spec.id, "done", None, &finished, Some(rendered))
                        .await
                }
                Err(e) => {
                    tracing::warn!(id = %spec.id, error = %e, "report failed");
                    store
                        .report_finish(&spec.id, "failed", Some(e), &finished, None)
                        .await
                }
            };
            match result {
                Err(e) => tracing::error!(id = %spec.id, error = %e, "report not stored"),
                Ok(()) if made.is_ok() => announce(&writer, &spec, seq).await,
                Ok(()) => {}
            }
        });
        Ok(row)
    }
}

/// Tells the report's audience that it was made: a `report` notice through the writer (the
/// server's own write), logged on the report's id.
async fn announce(writer: &Writer, spec: &Spec, seq: u64) {
    let note = ReportNote {
        id: spec.id.clone(),
        kind: spec.kind.as_str().to_string(),
        lang: spec.lang.code().to_string(),
        from: spec.period.from,
        to: spec.period.to,
        role: spec.viewer.role.to_string(),
        org: spec.viewer.org.to_string(),
        seq,
    };
    let command = Command::Alert {
        id: spec.id.clone(),
        alert: Box::new(Alert::report_made(note)),
    };
    if let Err(e) = writer
        .submit(Channel::System, Actor::system(), Viewer::system(), command)
        .await
    {
        tracing::warn!(id = %spec.id, error = %e, "report made but not announced");
    }
}

/// Gathers the facts, then lays out the document and draws the figures on a blocking thread.
async fn make(
    store: Arc<dyn EventStore>,
    policy: Arc<Policy>,
    gazetteer: Arc<Gazetteer>,
    spec: Spec,
    seq: u64,
) -> Result<super::Made, String> {
    let facts = super::gather(&*store, &policy, &gazetteer, &spec, seq)
        .await
        .map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || {
        super::lay_out(&spec, seq, &facts, &gazetteer).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("the layout stopped: {e}"))?
}

/// An audience of scheduled reports.
#[derive(Debug, Clone)]
pub struct Audience {
    pub viewer: Viewer,
    pub langs: Vec<Lang>,
}

/// Requests the scheduled reports as they fall due, until `shutdown`. A report that fell due
/// up to `CATCH_UP` before start-up is made too (its id makes it once).
pub async fn run_schedule(
    reports: Arc<Reports>,
    schedule: Schedule,
    audiences: Vec<Audience>,
    head: tokio::sync::watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    const CATCH_UP: chrono::Duration = chrono::Duration::hours(6);
    if audiences.is_empty() {
        return;
    }
    let mut since = Utc::now() - CATCH_UP;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Utc::now();
        for (kind, period) in schedule.due(since, now) {
            for a in &audiences {
                for lang in &a.langs {
                    let id = scheduled_id(
                        kind,
                        &period,
                        &a.viewer.role.to_string(),
                        &a.viewer.org,
                        *lang,
                    );
                    let at = *head.borrow();
                    match reports
                        .request(&a.viewer, kind, period, *lang, at, now, Some(id))
                        .await
                    {
                        Ok(row) => {
                            tracing::info!(id = %row.id, kind = kind.as_str(), "scheduled report requested")
                        }
                        Err(e) => tracing::warn!(error = %e, "scheduled report not requested"),
                    }
                }
            }
        }
        since = now;
    }
}

/// The maker, the schedule and its audiences from `[reports]` (checked: every audience's role
/// parses, every language is known).
pub fn from_config(
    config: &crate::config::Config,
    store: Arc<dyn EventStore>,
    writer: Writer,
    policy: Arc<Policy>,
    gazetteer: Arc<Gazetteer>,
) -> Result<(Arc<Reports>, Schedule, Vec<Audience>), String> {
    let r = &config.reports;
    let zone = config.local_offset().map_err(|e| e.to_string())?;
    let (h, m) = r.daily_time().map_err(|e| e.to_string())?;
    let schedule = Schedule {
        at: chrono::NaiveTime::from_hms_opt(h, m, 0).ok_or("reports.daily_at")?,
        weekday: r.weekday().map_err(|e| e.to_string())?,
        monthly_on: r.monthly_on,
        kinds: r.kinds.iter().filter_map(|k| Kind::parse(k)).collect(),
        zone,
    };
    let mut audiences = Vec::new();
    for a in &r.audiences {
        let role = crate::model::Role::parse(&a.role)
            .map_err(|e| format!("reports.audiences: role `{}`: {e}", a.role))?;
        audiences.push(Audience {
            viewer: Viewer::new(role, &a.org),
            langs: a.langs.iter().filter_map(|l| Lang::parse(l)).collect(),
        });
    }
    let reports = Arc::new(Reports::new(
        store,
        writer,
        policy,
        gazetteer,
        config.federation.centre.clone(),
        zone,
        r.max_running,
        r.max_pending,
    ));
    Ok((reports, schedule, audiences))
}
