//! Bulk registration task records (StartThingRegistrationTask and its family): what a task was
//! asked to do, its status and its progress. The control plane runs the tasks and updates these
//! records as it goes, so a task is visible — and survives a restart as a record — while the
//! work itself belongs to the process that started it.

use std::fmt;

use crate::Registry;
use crate::error::RegistryError;
use crate::page::{Page, PageRequest, created_key, parse_created_key};
use crate::row;
use crate::store::now_ms;
use roost_validation::Constraint;

/// Longest task id (model).
pub const MAX_TASK_ID: usize = 40;
/// Longest task message (model).
pub const MAX_TASK_MESSAGE: usize = 2048;

/// A bulk registration task's status, as the model spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationTaskStatus {
    InProgress,
    Completed,
    Failed,
    Cancelled,
    /// StopThingRegistrationTask was asked; the task stops at its next batch.
    Cancelling,
}

impl RegistrationTaskStatus {
    /// Every status, in the model's order.
    pub const ALL: &'static [Self] = &[
        Self::InProgress,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Cancelling,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
            Self::Cancelling => "Cancelling",
        }
    }

    /// Parses the wire spelling; `field` names the API member in the error.
    pub fn parse(field: &str, value: &str) -> Result<Self, RegistryError> {
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                RegistryError::constraint(field, value, Constraint::OneOf(&names))
            })
    }

    /// Whether the task still runs (InProgress or Cancelling).
    pub fn is_running(self) -> bool {
        matches!(self, Self::InProgress | Self::Cancelling)
    }
}

impl fmt::Display for RegistrationTaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bulk registration task's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationTask {
    pub id: String,
    pub template_body: String,
    pub input_bucket: String,
    pub input_key: String,
    pub role_arn: String,
    pub status: RegistrationTaskStatus,
    pub message: Option<String>,
    /// Parameter lines in the input file.
    pub total_count: i64,
    pub success_count: i64,
    pub failure_count: i64,
    /// Where the RESULTS report is written (a `file://` URL), if the task writes one.
    pub results_link: Option<String>,
    /// Where the ERRORS report is written (a `file://` URL), if the task writes one.
    pub errors_link: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
}

impl RegistrationTask {
    /// Lines processed, as a whole percentage of the input's lines (0–100); a finished task
    /// with an empty input is at 100.
    pub fn percentage_progress(&self) -> i64 {
        let done = self.success_count + self.failure_count;
        if self.total_count <= 0 {
            return if self.status.is_running() { 0 } else { 100 };
        }
        (done.saturating_mul(100) / self.total_count).clamp(0, 100)
    }
}

/// Input of StartThingRegistrationTask, once the control plane has read the input file.
#[derive(Debug, Clone)]
pub struct NewRegistrationTask {
    /// The task id (at most 40 characters), chosen by the caller so report names can carry it.
    pub id: String,
    pub template_body: String,
    pub input_bucket: String,
    pub input_key: String,
    pub role_arn: String,
    pub total_count: i64,
    pub results_link: Option<String>,
    pub errors_link: Option<String>,
}

const TASK_COLUMNS: &str = "id, template_body, input_bucket, input_key, role_arn, status, \
     message, total_count, success_count, failure_count, results_link, errors_link, created_ms, \
     modified_ms";

fn task_from_row(row: &sqlx::any::AnyRow) -> Result<RegistrationTask, RegistryError> {
    Ok(RegistrationTask {
        id: row::text(row, "id")?,
        template_body: row::text(row, "template_body")?,
        input_bucket: row::text(row, "input_bucket")?,
        input_key: row::text(row, "input_key")?,
        role_arn: row::text(row, "role_arn")?,
        status: RegistrationTaskStatus::parse("status", &row::text(row, "status")?)?,
        message: row::opt_text(row, "message")?,
        total_count: row::int(row, "total_count")?,
        success_count: row::int(row, "success_count")?,
        failure_count: row::int(row, "failure_count")?,
        results_link: row::opt_text(row, "results_link")?,
        errors_link: row::opt_text(row, "errors_link")?,
        created_ms: row::int(row, "created_ms")?,
        modified_ms: row::int(row, "modified_ms")?,
    })
}

fn check_task_id(id: &str) -> Result<(), RegistryError> {
    if id.is_empty() || id.chars().count() > MAX_TASK_ID {
        return Err(RegistryError::constraint(
            "taskId",
            id,
            Constraint::LengthBetween(1, MAX_TASK_ID),
        ));
    }
    Ok(())
}

fn task_not_found(id: &str) -> RegistryError {
    RegistryError::not_found(format!("The thing registration task {id} does not exist."))
}

/// Cuts a message to the model's 2048 characters.
fn bounded(message: &str) -> String {
    message.chars().take(MAX_TASK_MESSAGE).collect()
}

async fn find_task(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<RegistrationTask>, RegistryError> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM thing_registration_tasks WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(task_from_row).transpose()
}

impl Registry {
    /// Records a new task, InProgress with nothing processed yet.
    pub async fn create_registration_task(
        &self,
        input: NewRegistrationTask,
    ) -> Result<RegistrationTask, RegistryError> {
        check_task_id(&input.id)?;
        self.store
            .write(job!(|conn| {
                if find_task(conn, &input.id).await?.is_some() {
                    return Err(RegistryError::invalid(format!(
                        "A thing registration task with id {} exists already",
                        input.id
                    )));
                }
                let now = now_ms();
                let task = RegistrationTask {
                    id: input.id,
                    template_body: input.template_body,
                    input_bucket: input.input_bucket,
                    input_key: input.input_key,
                    role_arn: input.role_arn,
                    status: RegistrationTaskStatus::InProgress,
                    message: None,
                    total_count: input.total_count.max(0),
                    success_count: 0,
                    failure_count: 0,
                    results_link: input.results_link,
                    errors_link: input.errors_link,
                    created_ms: now,
                    modified_ms: now,
                };
                let sql = format!(
                    "INSERT INTO thing_registration_tasks ({TASK_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(task.id.clone())
                    .bind(task.template_body.clone())
                    .bind(task.input_bucket.clone())
                    .bind(task.input_key.clone())
                    .bind(task.role_arn.clone())
                    .bind(task.status.as_str())
                    .bind(task.message.clone())
                    .bind(task.total_count)
                    .bind(task.success_count)
                    .bind(task.failure_count)
                    .bind(task.results_link.clone())
                    .bind(task.errors_link.clone())
                    .bind(now)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok((task, Vec::new()))
            }))
            .await
    }

    /// DescribeThingRegistrationTask.
    pub async fn registration_task(&self, id: &str) -> Result<RegistrationTask, RegistryError> {
        check_task_id(id)?;
        let mut conn = self.store.reader().acquire().await?;
        find_task(&mut conn, id)
            .await?
            .ok_or_else(|| task_not_found(id))
    }

    /// ListThingRegistrationTasks, newest first, optionally only those with `status`.
    pub async fn list_registration_tasks(
        &self,
        status: Option<RegistrationTaskStatus>,
        page: &PageRequest,
    ) -> Result<Page<RegistrationTask>, RegistryError> {
        let after = page.after.as_deref().map(parse_created_key).transpose()?;
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM thing_registration_tasks \
             WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR created_ms < $2 OR (created_ms = $2 AND id < $3)) \
             ORDER BY created_ms DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.map(RegistrationTaskStatus::as_str))
            .bind(after.as_ref().map(|(ms, _)| *ms))
            .bind(after.map(|(_, id)| id))
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.store.reader())
            .await?;
        let items = rows
            .iter()
            .map(task_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |t| {
            created_key(t.created_ms, &t.id)
        }))
    }

    /// Sets a running task's counts of processed lines (its progress).
    pub async fn record_registration_progress(
        &self,
        id: &str,
        success_count: i64,
        failure_count: i64,
    ) -> Result<(), RegistryError> {
        let id = id.to_owned();
        self.store
            .write(job!(|conn| {
                sqlx::query(
                    "UPDATE thing_registration_tasks SET success_count = $1, \
                         failure_count = $2, modified_ms = $3 \
                         WHERE id = $4 AND status IN ('InProgress', 'Cancelling')",
                )
                .bind(success_count)
                .bind(failure_count)
                .bind(now_ms())
                .bind(id)
                .execute(&mut *conn)
                .await?;
                Ok(((), Vec::new()))
            }))
            .await
    }

    /// Ends a running task with `status` (Completed, Failed or Cancelled) and `message`; a task
    /// that has ended already is left as it is. Returns whether this call ended it.
    pub async fn finish_registration_task(
        &self,
        id: &str,
        status: RegistrationTaskStatus,
        message: Option<&str>,
    ) -> Result<bool, RegistryError> {
        if status.is_running() {
            return Err(RegistryError::invalid(format!(
                "a registration task cannot finish with status {status}"
            )));
        }
        let id = id.to_owned();
        let message = message.map(bounded);
        self.store
            .write(job!(|conn| {
                let result = sqlx::query(
                    "UPDATE thing_registration_tasks SET status = $1, message = $2, \
                         modified_ms = $3 WHERE id = $4 AND status IN ('InProgress', 'Cancelling')",
                )
                .bind(status.as_str())
                .bind(message)
                .bind(now_ms())
                .bind(id)
                .execute(&mut *conn)
                .await?;
                Ok((result.rows_affected() > 0, Vec::new()))
            }))
            .await
    }

    /// StopThingRegistrationTask's record half: an InProgress task becomes Cancelling (its
    /// runner ends it Cancelled); a Cancelling or Cancelled one is left as it is; a Completed or
    /// Failed one is refused. Returns the task as it now is.
    pub async fn stop_registration_task(
        &self,
        id: &str,
    ) -> Result<RegistrationTask, RegistryError> {
        check_task_id(id)?;
        let id = id.to_owned();
        self.store
            .write(job!(|conn| {
                let mut task = find_task(conn, &id)
                    .await?
                    .ok_or_else(|| task_not_found(&id))?;
                match task.status {
                    RegistrationTaskStatus::InProgress => {
                        let now = now_ms();
                        sqlx::query(
                            "UPDATE thing_registration_tasks SET status = 'Cancelling', \
                                 modified_ms = $1 WHERE id = $2",
                        )
                        .bind(now)
                        .bind(id.clone())
                        .execute(&mut *conn)
                        .await?;
                        task.status = RegistrationTaskStatus::Cancelling;
                        task.modified_ms = now;
                    }
                    RegistrationTaskStatus::Cancelling | RegistrationTaskStatus::Cancelled => {}
                    RegistrationTaskStatus::Completed | RegistrationTaskStatus::Failed => {
                        return Err(RegistryError::invalid(format!(
                            "The thing registration task {id} has ended ({}); only a task in \
                                 progress can be stopped",
                            task.status
                        )));
                    }
                }
                Ok((task, Vec::new()))
            }))
            .await
    }

    /// Marks every task still InProgress or Cancelling as Failed with `message`: run at
    /// start-up, when no task can be running any more. Returns their ids.
    pub async fn fail_interrupted_registration_tasks(
        &self,
        message: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let message = bounded(message);
        self.store
            .write(job!(|conn| {
                let rows = sqlx::query(
                    "SELECT id FROM thing_registration_tasks \
                         WHERE status IN ('InProgress', 'Cancelling') ORDER BY id",
                )
                .fetch_all(&mut *conn)
                .await?;
                let ids = rows
                    .iter()
                    .map(|r| row::text(r, "id"))
                    .collect::<Result<Vec<_>, _>>()?;
                if !ids.is_empty() {
                    sqlx::query(
                        "UPDATE thing_registration_tasks SET status = 'Failed', message = $1, \
                             modified_ms = $2 WHERE status IN ('InProgress', 'Cancelling')",
                    )
                    .bind(message)
                    .bind(now_ms())
                    .execute(&mut *conn)
                    .await?;
                }
                Ok((ids, Vec::new()))
            }))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: RegistrationTaskStatus, total: i64, done: i64) -> RegistrationTask {
        RegistrationTask {
            id: "t".into(),
            template_body: "{}".into(),
            input_bucket: "b".into(),
            input_key: "k".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            status,
            message: None,
            total_count: total,
            success_count: done,
            failure_count: 0,
            results_link: None,
            errors_link: None,
            created_ms: 0,
            modified_ms: 0,
        }
    }

    #[test]
    fn progress_is_the_processed_share_of_the_lines() {
        use RegistrationTaskStatus::*;
        assert_eq!(task(InProgress, 500, 0).percentage_progress(), 0);
        assert_eq!(task(InProgress, 500, 250).percentage_progress(), 50);
        assert_eq!(task(InProgress, 3, 2).percentage_progress(), 66);
        assert_eq!(task(Completed, 500, 500).percentage_progress(), 100);
        assert_eq!(task(InProgress, 0, 0).percentage_progress(), 0);
        assert_eq!(task(Completed, 0, 0).percentage_progress(), 100);
    }

    #[test]
    fn statuses_spell_as_in_the_model() {
        for status in RegistrationTaskStatus::ALL {
            assert_eq!(
                RegistrationTaskStatus::parse("status", status.as_str()).unwrap(),
                *status
            );
        }
        assert!(RegistrationTaskStatus::parse("status", "IN_PROGRESS").is_err());
    }
}
