//! Storage: connection pools, schema migrations and the group-commit writer.
//!
//! Reads go to a pool of connections. Every write is a job sent to one writer task, which runs
//! the jobs that are waiting together in one transaction — each inside its own savepoint, so a
//! job that fails is rolled back alone — and commits once. With SQLite in WAL mode and
//! `synchronous=FULL`, that one commit is one fsync for the whole batch: durability is never
//! weakened, and throughput under concurrent writers (a provisioning storm) comes from batching.
//! A job's caller hears back only after the commit, so an acknowledged write is on disk.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
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
];

/// Where the registry lives.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/registry.db` (created if missing) or `postgres://…`.
    pub url: String,
    /// Reader connections in the pool.
    pub max_readers: u32,
}

type ErasedJob = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Outcome> + Send>;

/// Delivers a job's committed (or failed) outcome to its caller.
type Deliver = Box<dyn FnOnce(Result<(), RegistryError>) + Send>;

/// A job's result as the writer sees it: on success, the events to publish and a hook that
/// delivers the typed value to the caller once the commit outcome is known.
enum Outcome {
    Done {
        events: Vec<RegistryEvent>,
        deliver: Deliver,
    },
    Failed,
}

/// The storage engine shared by all registry operations.
#[derive(Clone)]
pub(crate) struct Store {
    read: AnyPool,
    jobs: mpsc::Sender<ErasedJob>,
    listeners: Arc<RwLock<Vec<Arc<dyn ChangeListener>>>>,
    committed: Arc<AtomicU64>,
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
            .map_err(|e| RegistryError::Storage(format!("bad database URL: {e}")))?;
        let connect_options = connect_options.disable_statement_logging();

        let mut writer = connect_options.connect().await.map_err(storage)?;
        if is_sqlite {
            // WAL lets readers proceed during a write; FULL makes every commit durable.
            for pragma in [
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = FULL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA busy_timeout = 10000",
            ] {
                writer.execute(pragma).await.map_err(storage)?;
            }
        }
        migrator()
            .run(&mut writer)
            .await
            .map_err(|e| RegistryError::Storage(format!("schema migration failed: {e}")))?;

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
            .connect_with(connect_options)
            .await
            .map_err(storage)?;

        let listeners: Arc<RwLock<Vec<Arc<dyn ChangeListener>>>> = Arc::default();
        let (jobs, rx) = mpsc::channel(4096);
        let committed = Arc::new(AtomicU64::new(0));
        tokio::spawn(run_writer(writer, rx, listeners.clone(), committed.clone()));
        Ok(Self {
            read,
            jobs,
            listeners,
            committed,
        })
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
        let (reply, answer) = oneshot::channel::<Result<T, RegistryError>>();
        let erased: ErasedJob = Box::new(move |conn| {
            Box::pin(async move {
                match job(conn).await {
                    Ok((value, events)) => Outcome::Done {
                        events,
                        deliver: Box::new(move |committed| {
                            let _ = reply.send(committed.map(|()| value));
                        }),
                    },
                    Err(error) => {
                        let _ = reply.send(Err(error));
                        Outcome::Failed
                    }
                }
            })
        });
        self.jobs
            .send(erased)
            .await
            .map_err(|_| RegistryError::Storage("the registry writer has stopped".into()))?;
        answer.await.map_err(|_| {
            RegistryError::Storage("the write was abandoned after a storage error".into())
        })?
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

async fn run_writer(
    mut conn: AnyConnection,
    mut jobs: mpsc::Receiver<ErasedJob>,
    listeners: Arc<RwLock<Vec<Arc<dyn ChangeListener>>>>,
    committed: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut done = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        let result = run_batch(&mut conn, &mut batch, &mut done, &mut events).await;
        match result {
            Ok(()) => {
                // Counted once the commit is durable and visible to new reads.
                let commit = committed.fetch_add(1, Ordering::AcqRel) + 1;
                if !events.is_empty() {
                    let listeners = listeners
                        .read()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .clone();
                    for listener in listeners {
                        listener.on_commit(commit, &events);
                    }
                }
                for deliver in done {
                    deliver(Ok(()));
                }
            }
            Err(error) => {
                tracing::error!(%error, jobs = done.len(), "registry commit failed");
                for deliver in done {
                    deliver(Err(RegistryError::Storage(format!(
                        "commit failed: {error}"
                    ))));
                }
                // The connection may be in a broken transaction; try to get back to a clean state.
                let _ = conn.execute("ROLLBACK").await;
            }
        }
    }
}

async fn run_batch(
    conn: &mut AnyConnection,
    batch: &mut Vec<ErasedJob>,
    done: &mut Vec<Deliver>,
    events: &mut Vec<RegistryEvent>,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    // Savepoints as prepared statements (sqlx's nested transactions re-parse theirs each time):
    // two of them per job are on the path of every provisioning.
    for job in batch.drain(..) {
        sqlx::query("SAVEPOINT job").execute(&mut *tx).await?;
        match job(&mut tx).await {
            Outcome::Done {
                events: job_events,
                deliver,
            } => {
                sqlx::query("RELEASE SAVEPOINT job")
                    .execute(&mut *tx)
                    .await?;
                events.extend(job_events);
                done.push(deliver);
            }
            Outcome::Failed => {
                sqlx::query("ROLLBACK TO SAVEPOINT job")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("RELEASE SAVEPOINT job")
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await
}

pub(crate) fn storage(error: sqlx::Error) -> RegistryError {
    RegistryError::Storage(error.to_string())
}

/// Milliseconds since the Unix epoch, the registry's timestamp unit.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}
