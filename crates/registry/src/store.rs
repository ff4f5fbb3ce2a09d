//! Storage: connection pools, schema migrations and the group-commit writer.
//!
//! Reads go to a pool of connections. Every write is a job sent to one writer task, which runs
//! the jobs that are waiting, and those that arrive meanwhile, together in one transaction —
//! each inside its own savepoint, so a job that fails is rolled back alone (provisioning's hot
//! path checks before it writes and needs none) — and commits once. With SQLite in WAL mode and
//! `synchronous=FULL`, that one commit is one fsync for the whole batch: durability is never
//! weakened, and throughput under concurrent writers (a provisioning storm) comes from batching.
//! A job's caller hears back only after the commit, so an acknowledged write is on disk.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor, SqlSafeStr};
use tokio::sync::{mpsc, oneshot};

use crate::error::RegistryError;
use crate::events::{ChangeListener, RegistryEvent};

/// A boxed future borrowing the writer's connection for `'c`.
pub(crate) type BoxFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// What a write job gives back: its value and the changes it made, to announce after commit.
pub(crate) type JobResult<T> = Result<(T, Vec<RegistryEvent>), RegistryError>;

/// Most jobs one transaction takes; bounds the latency a batch adds to its first job.
const MAX_BATCH: usize = 256;

/// The versioned schema, embedded so the binary needs no files besides its data directory.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "registry",
        include_str!("../migrations/0001_registry.sql"),
    ),
    (
        2,
        "provisioning",
        include_str!("../migrations/0002_provisioning.sql"),
    ),
    (3, "fleet", include_str!("../migrations/0003_fleet.sql")),
    (
        4,
        "shadows and retained messages",
        include_str!("../migrations/0004_device_state.sql"),
    ),
    (
        5,
        "persistent MQTT sessions",
        include_str!("../migrations/0005_mqtt_sessions.sql"),
    ),
    (
        6,
        "topic rules and destinations",
        include_str!("../migrations/0006_topic_rules.sql"),
    ),
    (
        7,
        "cluster event log and session owners",
        include_str!("../migrations/0007_cluster_events.sql"),
    ),
];

/// Where the registry lives.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/registry.db` (created if missing) or `postgres://…`.
    pub url: String,
    /// Reader connections in the pool.
    pub max_readers: u32,
}

type RunJob = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Outcome> + Send>;

/// A job as the writer runs it.
struct ErasedJob {
    run: RunJob,
    /// Run inside a savepoint of its own, so that its failure undoes only its own writes.
    guarded: bool,
}

/// Delivers a job's outcome to its caller: the number of the commit that made it durable, or
/// why it failed.
type Deliver = Box<dyn FnOnce(Result<u64, RegistryError>) + Send>;

/// A job's result as the writer sees it: on success, the events to publish and a hook that
/// delivers the typed value to the caller once the commit outcome is known.
enum Outcome {
    Done {
        events: Vec<RegistryEvent>,
        deliver: Deliver,
    },
    Failed,
    /// An unguarded job failed in storage, perhaps after some of its writes: the whole
    /// transaction must be rolled back.
    Aborted(String),
}

/// The storage engine shared by all registry operations.
#[derive(Clone)]
pub(crate) struct Store {
    read: AnyPool,
    jobs: mpsc::Sender<ErasedJob>,
    listeners: Arc<RwLock<Vec<Arc<dyn ChangeListener>>>>,
    committed: Arc<AtomicU64>,
    /// This node's id once it has joined a cluster: from then on each commit's events are
    /// logged for the other nodes.
    cluster_node: Arc<OnceLock<String>>,
    is_postgres: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database, runs pending migrations and starts the writer.
    pub(crate) async fn open(options: &StoreOptions) -> Result<Self, RegistryError> {
        sqlx::any::install_default_drivers();
        let is_sqlite = options.url.starts_with("sqlite:");
        let connect = if is_sqlite {
            sqlite_url(&options.url)
        } else {
            options.url.clone()
        };
        let connect_options: AnyConnectOptions = connect
            .parse()
            .map_err(|e| RegistryError::storage(format!("bad database URL: {e}")))?;
        let connect_options = connect_options.disable_statement_logging();

        let mut writer = connect_options.connect().await?;
        if is_sqlite {
            // WAL lets readers proceed during a write; FULL makes every commit durable.
            for pragma in [
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = FULL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA busy_timeout = 10000",
            ] {
                writer.execute(pragma).await?;
            }
        }
        migrator()
            .run(&mut writer)
            .await
            .map_err(|e| RegistryError::storage(format!("schema migration failed: {e}")))?;

        let read = AnyPoolOptions::new()
            .max_connections(options.max_readers.max(1))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if is_sqlite {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect_options.clone())
            .await?;

        let listeners: Arc<RwLock<Vec<Arc<dyn ChangeListener>>>> = Arc::default();
        let (jobs, rx) = mpsc::channel(4096);
        let committed = Arc::new(AtomicU64::new(0));
        let cluster_node = Arc::new(OnceLock::new());
        // A server's connection can be lost (PostgreSQL restarted); the writer then opens a new
        // one. A SQLite file's cannot.
        let reconnect = (!is_sqlite).then(|| connect_options.clone());
        tokio::spawn(run_writer(
            writer,
            reconnect,
            rx,
            listeners.clone(),
            committed.clone(),
            cluster_node.clone(),
        ));
        Ok(Self {
            read,
            jobs,
            listeners,
            committed,
            cluster_node,
            is_postgres: !is_sqlite,
        })
    }

    /// Starts logging this node's commits for the others as `node`, and following theirs:
    /// every `poll`, the commits other nodes logged since the last look are announced to this
    /// node's listeners as if made here. Commits made before this call are not announced
    /// (a node reads its views from the database after joining).
    pub(crate) async fn join_cluster(
        &self,
        node: &str,
        poll: Duration,
    ) -> Result<(), RegistryError> {
        if !self.is_postgres {
            return Err(RegistryError::storage(
                "a cluster needs a PostgreSQL registry (database.url = \"postgres://…\")",
            ));
        }
        if self.cluster_node.set(node.to_owned()).is_err() {
            return Ok(());
        }
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM registry_events")
            .fetch_one(&self.read)
            .await?;
        tokio::spawn(follow_cluster(self.clone(), node.to_owned(), last, poll));
        Ok(())
    }

    /// This node's id, once it has joined a cluster.
    pub(crate) fn cluster_node(&self) -> Option<String> {
        self.cluster_node.get().cloned()
    }

    /// Whether the database answers a trivial query now.
    pub(crate) async fn is_reachable(&self) -> bool {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&self.read)
            .await
            .is_ok()
    }

    /// Announces a commit another node made.
    fn announce_remote(&self, events: &[RegistryEvent]) {
        let commit = self.committed.fetch_add(1, Ordering::AcqRel) + 1;
        announce(&self.listeners, commit, events);
    }

    /// The pool for read-only queries.
    pub(crate) fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The number of the latest commit.
    pub(crate) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Registers a listener called after each commit with the events it made.
    pub(crate) fn subscribe(&self, listener: Arc<dyn ChangeListener>) {
        self.listeners
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(listener);
    }

    /// Runs `job` in the writer's transaction and returns its value once it is committed.
    pub(crate) async fn write<T, F>(&self, job: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, JobResult<T>> + Send + 'static,
    {
        self.send(job, true).await.map(|(value, _)| value)
    }

    /// Like [`Store::write`], without the savepoint that isolates a failing job, for the hot
    /// path of provisioning storms. The job must fail with anything but
    /// [`RegistryError::Storage`] only before its first write; a storage error rolls back the
    /// whole batch it is in (its other jobs fail too, as when a commit fails). Returns the
    /// value and the number of the commit that made it durable.
    ///
    /// In a cluster every job is guarded all the same: another node's concurrent write can
    /// make a job that checked first fail on a key (the same device provisioned through two
    /// nodes at once), and that must fail the job alone, not the batch.
    pub(crate) async fn write_unguarded<T, F>(&self, job: F) -> Result<(T, u64), RegistryError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, JobResult<T>> + Send + 'static,
    {
        let guarded = self.cluster_node.get().is_some();
        self.send(job, guarded).await
    }

    async fn send<T, F>(&self, job: F, guarded: bool) -> Result<(T, u64), RegistryError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, JobResult<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<(T, u64), RegistryError>>();
        let run: RunJob = Box::new(move |conn| {
            Box::pin(async move {
                match job(conn).await {
                    Ok((value, events)) => Outcome::Done {
                        events,
                        deliver: Box::new(move |committed| {
                            let _ = reply.send(committed.map(|commit| (value, commit)));
                        }),
                    },
                    Err(RegistryError::Storage(cause)) if !guarded => {
                        let message = cause.to_string();
                        let _ = reply.send(Err(RegistryError::Storage(cause)));
                        Outcome::Aborted(message)
                    }
                    Err(error) => {
                        let _ = reply.send(Err(error));
                        Outcome::Failed
                    }
                }
            })
        });
        let erased = ErasedJob { run, guarded };
        self.jobs
            .send(erased)
            .await
            .map_err(|_| RegistryError::storage("the registry writer has stopped"))?;
        answer
            .await
            .map_err(|_| RegistryError::storage("the write was abandoned after a storage error"))?
    }

    /// Waits until every job sent before this call is committed, then stops accepting writes
    /// from this handle. Used at shutdown.
    pub(crate) async fn close(&self) {
        let _ = self
            .write(|_| Box::pin(async { Ok(((), Vec::new())) }))
            .await;
        self.read.close().await;
    }
}

/// Adds SQLite's create-if-missing mode to a `sqlite://` URL.
fn sqlite_url(url: &str) -> String {
    if url.contains('?') {
        url.to_owned()
    } else {
        format!("{url}?mode=rwc")
    }
}

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// How long logged events are kept for nodes that fall behind (a restarted node reads its
/// views afresh instead).
const EVENT_LOG_WINDOW: Duration = Duration::from_secs(600);

/// Tells every listener of a commit.
fn announce(
    listeners: &RwLock<Vec<Arc<dyn ChangeListener>>>,
    commit: u64,
    events: &[RegistryEvent],
) {
    if events.is_empty() {
        return;
    }
    let listeners = listeners
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    for listener in listeners {
        listener.on_commit(commit, events);
    }
}

/// Follows the other nodes' commits in the event log (see [`Store::join_cluster`]), and now
/// and then deletes what is older than [`EVENT_LOG_WINDOW`].
async fn follow_cluster(store: Store, node: String, mut last: i64, poll: Duration) {
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_prune = std::time::Instant::now();
    while !store.read.is_closed() {
        ticker.tick().await;
        let rows: Result<Vec<(i64, String, String)>, sqlx::Error> = sqlx::query_as(
            "SELECT seq, node, events FROM registry_events WHERE seq > $1 ORDER BY seq LIMIT 1000",
        )
        .bind(last)
        .fetch_all(&store.read)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                if !store.read.is_closed() {
                    tracing::warn!(%error, "reading the cluster's registry events failed; retrying");
                }
                continue;
            }
        };
        for (seq, author, events) in rows {
            last = seq;
            if author == node {
                continue;
            }
            match serde_json::from_str::<Vec<RegistryEvent>>(&events) {
                Ok(events) => store.announce_remote(&events),
                Err(error) => {
                    tracing::error!(%error, seq, node = %author, "a logged registry event is unreadable; skipped")
                }
            }
        }
        if std::time::Instant::now() >= next_prune {
            next_prune = std::time::Instant::now() + EVENT_LOG_WINDOW / 10;
            let before = now_ms() - EVENT_LOG_WINDOW.as_millis() as i64;
            let pruned = store
                .write(job!(|conn| {
                    sqlx::query("DELETE FROM registry_events WHERE created_ms < $1")
                        .bind(before)
                        .execute(conn)
                        .await?;
                    Ok(((), Vec::new()))
                }))
                .await;
            if let Err(error) = pruned {
                tracing::warn!(%error, "pruning the cluster's registry events failed");
            }
        }
    }
}

async fn run_writer(
    mut conn: AnyConnection,
    reconnect: Option<AnyConnectOptions>,
    mut jobs: mpsc::Receiver<ErasedJob>,
    listeners: Arc<RwLock<Vec<Arc<dyn ChangeListener>>>>,
    committed: Arc<AtomicU64>,
    cluster_node: Arc<OnceLock<String>>,
) {
    while let Some(first) = jobs.recv().await {
        let mut done = Vec::new();
        let mut events = Vec::new();
        let log_as = cluster_node.get().map(String::as_str);
        let result = run_batch(&mut conn, first, &mut jobs, &mut done, &mut events, log_as).await;
        match result {
            Ok(()) => {
                // Counted once the commit is durable and visible to new reads.
                let commit = committed.fetch_add(1, Ordering::AcqRel) + 1;
                announce(&listeners, commit, &events);
                for deliver in done {
                    deliver(Ok(commit));
                }
            }
            Err(error) => {
                tracing::error!(%error, jobs = done.len(), "registry commit failed");
                for deliver in done {
                    deliver(Err(RegistryError::storage(format!(
                        "commit failed: {error}"
                    ))));
                }
                // The connection may be in a broken transaction; try to get back to a clean state.
                let _ = conn.execute("ROLLBACK").await;
                if let Some(options) = &reconnect
                    && conn.ping().await.is_err()
                {
                    match options.connect().await {
                        Ok(fresh) => {
                            tracing::info!("the registry writer reconnected to the database");
                            conn = fresh;
                        }
                        Err(error) => {
                            tracing::warn!(%error, "the registry writer cannot reconnect yet; it retries at the next write")
                        }
                    }
                }
            }
        }
    }
}

/// Runs `first` and the jobs that keep arriving while the transaction is open (up to
/// [`MAX_BATCH`]) in one transaction, and commits it. Jobs that arrive while earlier ones run
/// would wait for the commit anyway; taking them in makes commits (and fsyncs) fewer.
async fn run_batch(
    conn: &mut AnyConnection,
    first: ErasedJob,
    jobs: &mut mpsc::Receiver<ErasedJob>,
    done: &mut Vec<Deliver>,
    events: &mut Vec<RegistryEvent>,
    log_as: Option<&str>,
) -> Result<(), String> {
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    let mut next = Some(first);
    let mut taken = 0;
    while let Some(job) = next.take() {
        taken += 1;
        run_job(&mut tx, job, done, events)
            .await
            .map_err(|e| e.to_string())??;
        if taken < MAX_BATCH {
            next = jobs.try_recv().ok();
        }
    }
    if let Some(node) = log_as
        && !events.is_empty()
    {
        log_events(&mut tx, node, events)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}

/// Appends a commit's events to the cluster's log, numbered after the last under a
/// transaction-scoped lock, so that a number is never visible before a smaller one.
async fn log_events(
    conn: &mut AnyConnection,
    node: &str,
    events: &[RegistryEvent],
) -> Result<(), sqlx::Error> {
    let text = serde_json::to_string(events).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    // The key is arbitrary; it only has to be the same on every node.
    sqlx::query("SELECT pg_advisory_xact_lock(7477001)")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO registry_events (seq, node, events, created_ms) \
         SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3 FROM registry_events",
    )
    .bind(node)
    .bind(text)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Runs one job of a batch; the inner `Err` is an unguarded job's abort.
async fn run_job(
    conn: &mut AnyConnection,
    job: ErasedJob,
    done: &mut Vec<Deliver>,
    events: &mut Vec<RegistryEvent>,
) -> Result<Result<(), String>, sqlx::Error> {
    // Savepoints as prepared statements (sqlx's nested transactions re-parse theirs each time).
    if job.guarded {
        sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
    }
    match (job.run)(conn).await {
        Outcome::Done {
            events: job_events,
            deliver,
        } => {
            if job.guarded {
                sqlx::query("RELEASE SAVEPOINT job")
                    .execute(&mut *conn)
                    .await?;
            }
            events.extend(job_events);
            done.push(deliver);
        }
        Outcome::Failed if job.guarded => {
            sqlx::query("ROLLBACK TO SAVEPOINT job")
                .execute(&mut *conn)
                .await?;
            sqlx::query("RELEASE SAVEPOINT job")
                .execute(&mut *conn)
                .await?;
        }
        // Failed before its first write, by its contract.
        Outcome::Failed => {}
        Outcome::Aborted(message) => {
            return Ok(Err(format!("a write failed in storage: {message}")));
        }
    }
    Ok(Ok(()))
}

/// `RegistryError::from` by name, for `.map_err` where `?` alone does not fit.
pub(crate) fn storage(error: sqlx::Error) -> RegistryError {
    RegistryError::from(error)
}

/// Milliseconds since the Unix epoch, the registry's timestamp unit.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open_store(dir: &tempfile::TempDir) -> Store {
        let store = Store::open(&StoreOptions {
            url: format!("sqlite://{}", dir.path().join("store.db").display()),
            max_readers: 2,
        })
        .await
        .unwrap();
        store
            .write(job!(|conn| {
                sqlx::query("CREATE TABLE scratch (v TEXT NOT NULL)")
                    .execute(conn)
                    .await?;
                Ok(((), Vec::new()))
            }))
            .await
            .unwrap();
        store
    }

    /// A job that inserts `value`, then fails with `error` if there is one.
    fn insert(
        value: &'static str,
        error: Option<RegistryError>,
    ) -> impl for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, JobResult<()>> + Send + 'static
    {
        move |conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO scratch (v) VALUES ($1)")
                    .bind(value)
                    .execute(conn)
                    .await?;
                match error {
                    Some(error) => Err(error),
                    None => Ok(((), Vec::new())),
                }
            })
        }
    }

    async fn values(store: &Store) -> Vec<String> {
        sqlx::query_scalar("SELECT v FROM scratch ORDER BY v")
            .fetch_all(store.reader())
            .await
            .unwrap()
    }

    /// Holds the writer in an open transaction for a moment, so that the jobs sent meanwhile
    /// share its batch.
    fn hold_writer(store: &Store) -> tokio::task::JoinHandle<Result<(), RegistryError>> {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(|_| {
                    Box::pin(async {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Ok(((), Vec::new()))
                    })
                })
                .await
        })
    }

    #[tokio::test]
    async fn a_failing_guarded_job_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir).await;
        let held = hold_writer(&store);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (a, b, c) = tokio::join!(
            store.write(insert("a", None)),
            store.write(insert("b", Some(RegistryError::invalid("no")))),
            store.write(insert("c", None)),
        );
        held.await.unwrap().unwrap();
        assert!(a.is_ok() && c.is_ok());
        assert!(matches!(b, Err(RegistryError::InvalidRequest(_))));
        assert_eq!(values(&store).await, ["a", "c"]);
    }

    #[tokio::test]
    async fn an_unguarded_job_failing_in_storage_rolls_back_its_whole_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir).await;
        let before = store.committed();
        let held = hold_writer(&store);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (a, b, c) = tokio::join!(
            store.write(insert("a", None)),
            store.write_unguarded(insert("b", Some(RegistryError::storage("disk")))),
            store.write(insert("c", None)),
        );
        // The jobs run before it in its batch fail with it; the next one starts a new batch.
        assert!(held.await.unwrap().is_err());
        assert!(a.is_err(), "{a:?}");
        assert!(matches!(b, Err(RegistryError::Storage(_))));
        assert!(c.is_ok(), "{c:?}");
        assert_eq!(values(&store).await, ["c"]);
        assert_eq!(store.committed(), before + 1);

        // The writer goes on; an unguarded job that fails before writing changes nothing else.
        let (d, e) = tokio::join!(
            store.write(insert("d", None)),
            store.write_unguarded(|_| Box::pin(async { Err(RegistryError::invalid("no")) })),
        );
        assert!(d.is_ok());
        assert!(matches!(
            e,
            Err::<((), u64), _>(RegistryError::InvalidRequest(_))
        ));
        assert_eq!(values(&store).await, ["c", "d"]);
    }
}
