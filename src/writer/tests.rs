//! The writer against a store whose commits the test holds and fails: a failed commit refuses
//! its own commands and the next batch starts from the store's head; shutdown commits
//! everything accepted.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{run_writer, writer, Command, WriteError, Writer};
use crate::config::Config;
use crate::log::{Actor, Hash, Record};
use crate::metrics::Metrics;
use crate::model::input::{parse_feature, Author};
use crate::model::{Item, Layer, Role, Side};
use crate::picture::{Journal, Live, Picture};
use crate::policy::{Channel, Policy, Viewer};
use crate::store::{AuditRow, EventStore, Rendering, Renderings, ReportRow, StoreError, TokenRow};

/// A log in memory whose commits wait for a permit each, and fail while `fail` is set.
struct Held {
    records: Mutex<Vec<Record>>,
    permits: Semaphore,
    waiting: AtomicUsize,
    fail: AtomicBool,
}

impl Held {
    fn new() -> Arc<Held> {
        Arc::new(Held {
            records: Mutex::default(),
            permits: Semaphore::new(0),
            waiting: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
        })
    }
}

fn not_here() -> StoreError {
    StoreError::Unavailable("not used by the writer".into())
}

#[async_trait]
impl EventStore for Held {
    async fn append(&self, records: &[Record]) -> Result<(), StoreError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.permits
            .acquire()
            .await
            .expect("the semaphore stays open")
            .forget();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the disk is full".into()));
        }
        self.records.lock().unwrap().extend_from_slice(records);
        Ok(())
    }

    async fn head(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        Ok(self.records.lock().unwrap().last().map(|r| (r.seq, r.hash)))
    }

    async fn put_snapshot(&self, _seq: u64, _at: &str, _data: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn read(&self, after: u64, limit: u32) -> Result<Vec<Record>, StoreError> {
        let records = self.records.lock().unwrap();
        Ok(records
            .iter()
            .filter(|r| r.seq > after)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Err(not_here())
    }

    async fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Err(not_here())
    }

    async fn snapshot_between(
        &self,
        _after: u64,
        _upto: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Err(not_here())
    }

    async fn seq_at(&self, _at: &str) -> Result<u64, StoreError> {
        Err(not_here())
    }

    async fn item_records(&self, _id: &str, _limit: u32) -> Result<Vec<Record>, StoreError> {
        Err(not_here())
    }

    async fn create_token(&self, _token: &TokenRow) -> Result<(), StoreError> {
        Err(not_here())
    }

    async fn find_token(&self, _secret_hash: &[u8]) -> Result<Option<TokenRow>, StoreError> {
        Err(not_here())
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        Err(not_here())
    }

    async fn revoke_token(&self, _name_or_id: &str, _at: &str) -> Result<bool, StoreError> {
        Err(not_here())
    }

    async fn enrol_device(
        &self,
        _enrol_hash: &[u8],
        _device_hash: &[u8],
        _now: &str,
    ) -> Result<Option<TokenRow>, StoreError> {
        Err(not_here())
    }

    async fn audit_add(&self, _rows: &[AuditRow]) -> Result<(), StoreError> {
        Err(not_here())
    }

    async fn audit_for(&self, _item: &str, _since_day: &str) -> Result<Vec<AuditRow>, StoreError> {
        Err(not_here())
    }

    async fn audit_prune(&self, _before_day: &str) -> Result<u64, StoreError> {
        Err(not_here())
    }

    async fn report_insert(&self, _row: &ReportRow) -> Result<bool, StoreError> {
        Err(not_here())
    }

    async fn report_finish(
        &self,
        _id: &str,
        _status: &str,
        _error: Option<&str>,
        _finished_at: &str,
        _rendered: Option<Renderings<'_>>,
    ) -> Result<(), StoreError> {
        Err(not_here())
    }

    async fn report_get(&self, _id: &str) -> Result<Option<ReportRow>, StoreError> {
        Err(not_here())
    }

    async fn report_list(
        &self,
        _role: &str,
        _org: &str,
        _limit: u32,
    ) -> Result<Vec<ReportRow>, StoreError> {
        Err(not_here())
    }

    async fn report_body(&self, _id: &str, _as_: Rendering) -> Result<Option<Vec<u8>>, StoreError> {
        Err(not_here())
    }
}

fn incident(id: &str) -> Item {
    let f = json!({"type":"Feature","geometry":{"type":"Point","coordinates":[43.1,36.3]},
        "properties":{"occurred_at":"2026-01-05T10:00:00Z","event_type":"riots",
                      "severity":2,"fatalities":0,"description":"x","verification":"reported"}});
    let now = Utc::now();
    parse_feature(Layer::Incidents, &f, now)
        .expect("a valid incident")
        .into_new_item(
            id.into(),
            Layer::Incidents,
            Author {
                org: "WFP",
                side: Side::Civil,
            },
            now,
        )
}

fn start(store: Arc<Held>) -> (Writer, CancellationToken) {
    let live = Arc::new(RwLock::new(Live {
        picture: Picture::new(),
        journal: Journal::new(1000, 1 << 20, 0),
    }));
    let (published, _) = watch::channel(0);
    let (writer, task) = writer(
        store,
        live,
        Arc::new(Policy::default_policy()),
        Arc::new(Config::default()),
        Arc::new(Metrics::default()),
        Arc::new(published),
        None,
        0,
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(run_writer(task, shutdown.clone()));
    (writer, shutdown)
}

fn submit(
    writer: &Writer,
    command: Command,
) -> tokio::task::JoinHandle<Result<Option<u64>, WriteError>> {
    let writer = writer.clone();
    tokio::spawn(async move {
        writer
            .submit(
                Channel::Rest,
                Actor {
                    org: "WFP".into(),
                    name: "test".into(),
                },
                Viewer::new(Role::ConvoyPlanner, "WFP"),
                command,
            )
            .await
            .map(|o| o.seq)
    })
}

/// Until `n` commits wait in the store.
async fn committing(store: &Held, n: usize) {
    for _ in 0..500 {
        if store.waiting.load(Ordering::SeqCst) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{n} commits never waited in the store");
}

fn chain_holds(store: &Held) -> Vec<(u64, String, String)> {
    let records = store.records.lock().unwrap();
    let mut prev = None;
    for r in records.iter() {
        r.check(prev).expect("the chain holds");
        prev = Some((r.seq, r.hash));
    }
    records
        .iter()
        .map(|r| (r.seq, r.kind.clone(), r.item_id.clone()))
        .collect()
}

#[tokio::test]
async fn a_failed_commit_refuses_its_own_commands_and_the_next_batch_starts_from_the_store() {
    let store = Held::new();
    let (w, shutdown) = start(store.clone());
    let a = submit(&w, Command::Create(incident("a")));
    committing(&store, 1).await;
    // `b` arrives while `a` commits; it is staged only once `a`'s commit has ended.
    let b = submit(&w, Command::Create(incident("b")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    store.fail.store(true, Ordering::SeqCst);
    store.permits.add_permits(1);
    assert!(matches!(a.await.unwrap(), Err(WriteError::Unavailable(_))));
    committing(&store, 1).await;
    store.fail.store(false, Ordering::SeqCst);
    store.permits.add_permits(100);
    // `b` starts the log: nothing of `a` was written, or kept in memory.
    assert_eq!(b.await.unwrap(), Ok(Some(1)));
    let c = submit(&w, Command::Create(incident("c")));
    assert_eq!(c.await.unwrap(), Ok(Some(2)));
    assert_eq!(
        chain_holds(&store),
        vec![
            (1, "created".into(), "b".into()),
            (2, "created".into(), "c".into())
        ]
    );
    shutdown.cancel();
}

#[tokio::test]
async fn on_shutdown_every_accepted_command_is_committed() {
    let store = Held::new();
    let (w, shutdown) = start(store.clone());
    let first = submit(&w, Command::Create(incident("a")));
    committing(&store, 1).await;
    let rest: Vec<_> = (0..5)
        .map(|i| submit(&w, Command::Create(incident(&format!("i{i}")))))
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.cancel();
    store.permits.add_permits(100);
    assert_eq!(first.await.unwrap(), Ok(Some(1)));
    for r in rest {
        assert!(r.await.unwrap().is_ok());
    }
    assert_eq!(chain_holds(&store).len(), 6);
}
