//! The device registry: certificates and CAs, things and their types and groups, policies and
//! their attachments, tags — stored in SQLite (embedded default) or PostgreSQL through one
//! portable schema, with AWS IoT's rules enforced on every write, whoever makes it (the control
//! plane, just-in-time provisioning, fleet provisioning).
//!
//! It does not speak HTTP or MQTT. Writes are committed by a group-commit writer ([`store`]);
//! each commit announces its [`RegistryEvent`]s to [`ChangeListener`]s, which keep the broker's
//! in-memory views current and cut connections whose certificate is revoked.
//!
//! Types that matter: [`Registry`], [`RegistryError`], [`Arns`], the records in [`model`].

/// A write job for [`store::Store::write`]: `job!(|conn| { … })` is the closure the writer runs
/// in its transaction, its body an async block that returns the value and the events it made.
/// The writer needs the future boxed and the closure to own what it uses; this keeps that
/// plumbing out of the operations, so each reads as the rule it applies.
macro_rules! job {
    (|$conn:ident| $body:block) => {
        move |$conn| Box::pin(async move $body)
    };
}

mod arn;
mod error;
mod events;
pub mod model;
pub mod names;
mod ops;
mod page;
mod row;
mod store;

use std::sync::Arc;

pub use arn::{Arns, ResourceArn};
pub use error::{RegistryError, StorageError};
pub use events::{ChangeListener, RegistryEvent};
pub use ops::*;
pub use page::{DEFAULT_MAX_RESULTS, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};
pub use store::StoreOptions;

use store::Store;

/// A handle on the registry; cheap to clone and shared by every part of the server.
#[derive(Debug, Clone)]
pub struct Registry {
    store: Store,
    arns: Arc<Arns>,
}

impl Registry {
    /// Opens the database at `options.url`, migrating its schema to the current version.
    pub async fn open(options: &StoreOptions, arns: Arns) -> Result<Self, RegistryError> {
        Ok(Self {
            store: Store::open(options).await?,
            arns: Arc::new(arns),
        })
    }

    /// The ARN scheme of this registry's region and account.
    pub fn arns(&self) -> &Arns {
        &self.arns
    }

    /// Calls `listener` after every commit with the events of that commit.
    pub fn subscribe(&self, listener: Arc<dyn ChangeListener>) {
        self.store.subscribe(listener);
    }

    /// The sequence number of the latest commit (0 before the first). A read that starts after
    /// this returned `n` sees every commit numbered `n` or less; listeners hear of each commit
    /// with its number, so a reader can tell which changes its read already reflects.
    pub fn committed(&self) -> u64 {
        self.store.committed()
    }

    /// Joins a cluster of nodes sharing this (PostgreSQL) registry as node `node`: this node's
    /// commits are logged for the others, and theirs reach this node's listeners within
    /// about `poll`. Call it before reading anything the listeners keep current.
    pub async fn join_cluster(
        &self,
        node: &str,
        poll: std::time::Duration,
    ) -> Result<(), RegistryError> {
        self.store.join_cluster(node, poll).await
    }

    /// Whether the database answers now (for `/health`).
    pub async fn is_reachable(&self) -> bool {
        self.store.is_reachable().await
    }

    /// Waits for pending writes to commit and closes the connections.
    pub async fn close(&self) {
        self.store.close().await;
    }
}
