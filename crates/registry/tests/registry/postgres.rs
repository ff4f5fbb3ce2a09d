//! A database of its own on the PostgreSQL server of `ROOST_TEST_DATABASE_URL` for each test,
//! dropped when the test ends so that a suite run leaves the server as it found it.

use sqlx::Connection;

/// The variable naming a PostgreSQL server to run the suites against.
pub(crate) const DATABASE_URL_VARIABLE: &str = "ROOST_TEST_DATABASE_URL";

/// The server URL of `ROOST_TEST_DATABASE_URL`, when it is set and not empty.
pub(crate) fn server_url() -> Option<String> {
    std::env::var(DATABASE_URL_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty())
}

/// A database created for one test; dropping the value drops the database.
pub(crate) struct TestDatabase {
    server_url: String,
    name: String,
    /// The URL that opens this database.
    pub(crate) url: String,
}

impl TestDatabase {
    /// Creates a database with a unique name on the server of `server_url`.
    pub(crate) async fn create(server_url: &str) -> Self {
        let name = format!("roost_test_{}", uuid::Uuid::new_v4().simple());
        execute(server_url, &format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
        let (base, query) = match server_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (server_url, String::new()),
        };
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        Self {
            url: format!("{server}/{name}{query}"),
            server_url: server_url.to_owned(),
            name,
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the database, ending any connection the test left open (`WITH (FORCE)`, PostgreSQL
    /// 13 and later). `Drop` cannot await, and the test's runtime may be the current thread's,
    /// so the statement runs on a thread with a runtime of its own. A failure is reported, not
    /// raised: panicking here while a failed test unwinds would abort the whole run.
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let outcome = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?
                .block_on(execute(&server_url, &statement))
                .map_err(|error| error.to_string())
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("test database {} not dropped: {error}", self.name),
            Err(_) => eprintln!(
                "test database {} not dropped: the thread panicked",
                self.name
            ),
        }
    }
}

/// Runs one statement on a new connection to `server_url`.
async fn execute(server_url: &str, statement: &str) -> Result<(), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(server_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut admin)
        .await?;
    admin.close().await
}
