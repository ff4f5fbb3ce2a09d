//! The registry's one test suite: every operation's rules and errors, pagination, the change
//! events of each write, and the group-commit writer (concurrent writers, a failing write in a
//! batch). Each test gets a fresh SQLite file in a temporary directory; with
//! `ROOST_TEST_DATABASE_URL=postgres://user@host/db` each test gets a fresh database created on
//! that server instead, so the same tests cover every storage backend.

#[path = "registry/postgres.rs"]
mod postgres;
#[path = "registry/support.rs"]
mod support;

#[path = "registry/certificates.rs"]
mod certificates;
#[path = "registry/cluster.rs"]
mod cluster;
#[path = "registry/concurrency.rs"]
mod concurrency;
#[path = "registry/events.rs"]
mod events;
#[path = "registry/groups.rs"]
mod groups;
#[path = "registry/paging.rs"]
mod paging;
#[path = "registry/policies.rs"]
mod policies;
#[path = "registry/principals.rs"]
mod principals;
#[path = "registry/retained.rs"]
mod retained;
#[path = "registry/sessions.rs"]
mod sessions;
#[path = "registry/shadows.rs"]
mod shadows;
#[path = "registry/tags.rs"]
mod tags;
#[path = "registry/things.rs"]
mod things;
#[path = "registry/tokens.rs"]
mod tokens;
#[path = "registry/topic_rules.rs"]
mod topic_rules;
