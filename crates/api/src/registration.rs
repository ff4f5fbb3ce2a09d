//! Bulk registration: RegisterThing (the provisioning service's) for every line of an input
//! file, on a background task.
//!
//! There is no S3: an `inputFileBucket` is a name the server's configuration maps to a
//! directory, and `inputFileKey` a file under it with one JSON object of parameters per line.
//! Lines are applied in batches of concurrent registrations, so the registry's group commit
//! makes one commit of many; the task's record carries the counts after every batch. The
//! RESULTS and ERRORS reports are written beside the input file as `<taskId>.results.jsonl` and
//! `<taskId>.errors.jsonl`, one JSON line per input line in AWS's report shape, and are listed
//! as `file://` URLs. A task still running when the server stops is marked Failed at the next
//! start (it is not resumed).

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use roost_provisioning::Provisioning;
use roost_registry::{NewRegistrationTask, RegisteredThing, RegistrationTaskStatus, Registry};
use roost_template::{Parameters, Template};
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{ApiError, ApiResult};

/// Lines registered concurrently, and between two progress updates. The registry's writer
/// commits up to 256 jobs at once.
const BATCH_LINES: usize = 256;
/// Largest input file read, in bytes.
pub(crate) const MAX_INPUT_BYTES: u64 = 256 << 20;
/// The message of a task that was running when the server stopped.
pub(crate) const INTERRUPTED_MESSAGE: &str = "Roost stopped while this task was in progress; \
     the reports hold the lines processed before the stop. Start a new task for the rest.";

/// Characters escaped in the `file://` URLs of reports.
const URL_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A validated StartThingRegistrationTask request.
#[derive(Debug, Clone)]
pub(crate) struct TaskRequest {
    pub(crate) template_body: String,
    pub(crate) input_bucket: String,
    pub(crate) input_key: String,
    pub(crate) role_arn: String,
}

/// The bulk registration tasks of this server: the allow-listed input directories and the
/// tasks running now, which it owns (they are aborted when it is dropped).
#[derive(Debug, Default)]
pub(crate) struct BulkRegistration {
    buckets: RwLock<BTreeMap<String, PathBuf>>,
    running: Arc<Mutex<HashMap<String, RunningTask>>>,
}

#[derive(Debug)]
struct RunningTask {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for BulkRegistration {
    fn drop(&mut self) {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        for task in running.values() {
            if let Some(handle) = &task.handle {
                handle.abort();
            }
        }
    }
}

impl BulkRegistration {
    pub(crate) fn set_buckets(&self, dirs: BTreeMap<String, PathBuf>) {
        *self.buckets.write().unwrap_or_else(|p| p.into_inner()) = dirs;
    }

    /// The input file `key` in the directory named `bucket`, which must be allow-listed; the
    /// key may not leave the directory.
    fn input_path(&self, bucket: &str, key: &str) -> ApiResult<PathBuf> {
        let dir = self
            .buckets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(bucket)
            .cloned()
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "inputFileBucket '{bucket}' is not a bulk registration directory of this \
                     server (configuration key provisioning.bulk_registration_dirs)"
                ))
            })?;
        let relative = Path::new(key);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(ApiError::invalid(format!(
                "inputFileKey '{key}' must be a relative path inside the bucket's directory \
                 (no '..', no leading '/')"
            )));
        }
        let root = dir.canonicalize().map_err(|e| {
            ApiError::invalid(format!(
                "the directory of inputFileBucket '{bucket}' cannot be read: {e}"
            ))
        })?;
        let path = root.join(relative).canonicalize().map_err(|e| {
            ApiError::invalid(format!(
                "inputFileKey '{key}' cannot be read in inputFileBucket '{bucket}': {e}"
            ))
        })?;
        if !path.starts_with(&root) || !path.is_file() {
            return Err(ApiError::invalid(format!(
                "inputFileKey '{key}' is not a file inside inputFileBucket '{bucket}'"
            )));
        }
        Ok(path)
    }

    /// StartThingRegistrationTask: reads the input, creates the report files and the task's
    /// record, and starts the task. Returns its id.
    pub(crate) async fn start(
        &self,
        registry: Registry,
        provisioning: Provisioning,
        request: TaskRequest,
    ) -> ApiResult<String> {
        let template = provisioning.parse_template(
            &request.template_body,
            "templateBody is not a valid provisioning template",
        )?;
        let path = self.input_path(&request.input_bucket, &request.input_key)?;
        let size = tokio::fs::metadata(&path)
            .await
            .map_err(|e| ApiError::invalid(format!("inputFileKey cannot be read: {e}")))?
            .len();
        if size > MAX_INPUT_BYTES {
            return Err(ApiError::invalid(format!(
                "the input file is {size} bytes; the most Roost reads is {MAX_INPUT_BYTES}"
            )));
        }
        let input = tokio::fs::read(&path)
            .await
            .map_err(|e| ApiError::invalid(format!("inputFileKey cannot be read: {e}")))?;
        let lines = input_lines(&input);

        let id = uuid::Uuid::new_v4().to_string();
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let reports = Reports {
            results: dir.join(format!("{id}.results.jsonl")),
            errors: dir.join(format!("{id}.errors.jsonl")),
        };
        let writers = reports.create().await?;
        let task = registry
            .create_registration_task(NewRegistrationTask {
                id: id.clone(),
                template_body: request.template_body,
                input_bucket: request.input_bucket,
                input_key: request.input_key,
                role_arn: request.role_arn,
                total_count: lines.len() as i64,
                results_link: Some(file_url(&reports.results)),
                errors_link: Some(file_url(&reports.errors)),
            })
            .await?;

        let stop = Arc::new(AtomicBool::new(false));
        let run = TaskRun {
            id: task.id.clone(),
            registry,
            provisioning,
            template,
            stop: stop.clone(),
            running: self.running.clone(),
        };
        // The lock is held across the spawn so that the task, which removes its entry when it
        // ends, cannot end before its entry exists.
        {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            let handle = tokio::spawn(run.run(lines, writers));
            running.insert(
                id.clone(),
                RunningTask {
                    stop,
                    handle: Some(handle),
                },
            );
        }
        tracing::info!(task = %id, lines = task.total_count, "bulk registration started");
        Ok(id)
    }

    /// StopThingRegistrationTask: a running task stops before its next batch and ends
    /// Cancelled; a task no process runs any more ends Cancelled at once.
    pub(crate) async fn stop(&self, registry: &Registry, id: &str) -> ApiResult<()> {
        let task = registry.stop_registration_task(id).await?;
        let flagged = {
            let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running
                .get(id)
                .map(|t| t.stop.store(true, Ordering::SeqCst))
        };
        if flagged.is_none() && task.status == RegistrationTaskStatus::Cancelling {
            registry
                .finish_registration_task(
                    id,
                    RegistrationTaskStatus::Cancelled,
                    Some("stopped by StopThingRegistrationTask"),
                )
                .await?;
        }
        Ok(())
    }
}

/// One non-blank line of an input file: its 1-based number, the byte offset just past it (as
/// AWS's reports give them), and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputLine {
    pub(crate) number: u64,
    pub(crate) offset: u64,
    pub(crate) text: Result<String, String>,
}

/// Splits an input file into its parameter lines; blank lines are skipped but counted.
pub(crate) fn input_lines(input: &[u8]) -> Vec<InputLine> {
    let mut lines = Vec::new();
    let mut offset = 0u64;
    for (index, raw) in input.split_inclusive(|b| *b == b'\n').enumerate() {
        offset += raw.len() as u64;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = std::str::from_utf8(raw)
            .map(|t| t.trim().to_owned())
            .map_err(|_| "the line is not UTF-8 text".to_owned());
        lines.push(InputLine {
            number: index as u64 + 1,
            offset,
            text,
        });
    }
    lines
}

/// A line's template parameters: a JSON object whose values are strings (numbers and booleans
/// are taken as their text).
pub(crate) fn line_parameters(text: &str) -> Result<Parameters, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the line is not valid JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("the line is not a JSON object of parameters".to_owned());
    };
    fields
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(format!("parameter {name} is not a string")),
            };
            Ok((name, text))
        })
        .collect()
}

/// The report files of a task.
struct Reports {
    results: PathBuf,
    errors: PathBuf,
}

struct ReportWriters {
    results: BufWriter<tokio::fs::File>,
    errors: BufWriter<tokio::fs::File>,
}

impl Reports {
    async fn create(&self) -> ApiResult<ReportWriters> {
        let open = |path: &Path| {
            let path = path.to_owned();
            async move {
                tokio::fs::File::create(&path).await.map_err(|e| {
                    ApiError::invalid(format!(
                        "the report {} cannot be written beside the input file: {e}",
                        path.display()
                    ))
                })
            }
        };
        Ok(ReportWriters {
            results: BufWriter::new(open(&self.results).await?),
            errors: BufWriter::new(open(&self.errors).await?),
        })
    }
}

fn file_url(path: &Path) -> String {
    format!(
        "file://{}",
        utf8_percent_encode(&path.to_string_lossy(), URL_PATH)
    )
}

/// A RESULTS report line: the registered resources of input line `line`.
pub(crate) fn result_line(line: &InputLine, registered: &RegisteredThing) -> Value {
    let mut response = json!({ "ResourceArns": registered.resource_arns });
    if let Some(pem) = &registered.certificate_pem {
        response["CertificatePem"] = pem.clone().into();
    }
    json!({
        "lineNumber": line.number,
        "offset": line.offset,
        "response": response,
        "errorMessage": null,
    })
}

/// An ERRORS report line: why input line `line` was not registered.
pub(crate) fn error_line(line: &InputLine, error: &ApiError) -> Value {
    json!({
        "lineNumber": line.number,
        "offset": line.offset,
        "response": null,
        "errorCode": error.kind.aws_type(),
        "errorMessage": format!("{}: {}", error.kind.aws_type(), error.message),
    })
}

/// One task's run, on its own tokio task.
struct TaskRun {
    id: String,
    registry: Registry,
    provisioning: Provisioning,
    template: Arc<Template>,
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<HashMap<String, RunningTask>>>,
}

impl TaskRun {
    async fn run(self, lines: Vec<InputLine>, mut writers: ReportWriters) {
        let (status, message) = match self.register_all(&lines, &mut writers).await {
            Ok(true) => (
                RegistrationTaskStatus::Cancelled,
                Some("stopped by StopThingRegistrationTask".to_owned()),
            ),
            Ok(false) => (RegistrationTaskStatus::Completed, None),
            Err(reason) => {
                tracing::error!(task = %self.id, %reason, "bulk registration failed");
                (RegistrationTaskStatus::Failed, Some(reason))
            }
        };
        if let Err(error) = self
            .registry
            .finish_registration_task(&self.id, status, message.as_deref())
            .await
        {
            tracing::error!(task = %self.id, %error, "the end of a bulk registration was not recorded");
        }
        tracing::info!(task = %self.id, %status, "bulk registration ended");
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }

    /// Registers every line, a batch at a time; returns whether it was stopped.
    async fn register_all(
        &self,
        lines: &[InputLine],
        writers: &mut ReportWriters,
    ) -> Result<bool, String> {
        let (mut succeeded, mut failed) = (0i64, 0i64);
        for batch in lines.chunks(BATCH_LINES) {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(true);
            }
            let mut registrations = JoinSet::new();
            for (index, line) in batch.iter().enumerate() {
                let provisioning = self.provisioning.clone();
                let template = self.template.clone();
                let text = line.text.clone();
                registrations.spawn(async move {
                    let outcome = match text {
                        Ok(text) => match line_parameters(&text) {
                            Ok(parameters) => provisioning
                                .register_thing(&template, &parameters)
                                .await
                                .map_err(ApiError::from),
                            Err(reason) => Err(ApiError::invalid(reason)),
                        },
                        Err(reason) => Err(ApiError::invalid(reason)),
                    };
                    (index, outcome)
                });
            }
            let mut outcomes: Vec<Option<ApiResult<RegisteredThing>>> =
                (0..batch.len()).map(|_| None).collect();
            while let Some(joined) = registrations.join_next().await {
                let (index, outcome) =
                    joined.map_err(|e| format!("a registration did not finish: {e}"))?;
                outcomes[index] = Some(outcome);
            }
            for (line, outcome) in batch.iter().zip(outcomes) {
                let outcome = outcome.ok_or("a registration gave no outcome")?;
                let (writer, entry) = match &outcome {
                    Ok(registered) => {
                        succeeded += 1;
                        (&mut writers.results, result_line(line, registered))
                    }
                    Err(error) => {
                        failed += 1;
                        (&mut writers.errors, error_line(line, error))
                    }
                };
                let mut text = entry.to_string();
                text.push('\n');
                writer
                    .write_all(text.as_bytes())
                    .await
                    .map_err(|e| format!("writing a report failed: {e}"))?;
            }
            for writer in [&mut writers.results, &mut writers.errors] {
                writer
                    .flush()
                    .await
                    .map_err(|e| format!("writing a report failed: {e}"))?;
            }
            self.registry
                .record_registration_progress(&self.id, succeeded, failed)
                .await
                .map_err(|e| format!("recording progress failed: {e}"))?;
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_their_number_and_the_offset_past_them_and_blank_lines_are_skipped() {
        let input = b"{\"a\":\"1\"}\n\n  \n{\"a\":\"2\"}\r\n{\"a\":\"3\"}";
        let lines = input_lines(input);
        let summary: Vec<_> = lines
            .iter()
            .map(|l| (l.number, l.offset, l.text.clone().unwrap()))
            .collect();
        assert_eq!(
            summary,
            [
                (1, 10, r#"{"a":"1"}"#.to_owned()),
                (4, 25, r#"{"a":"2"}"#.to_owned()),
                (5, 34, r#"{"a":"3"}"#.to_owned()),
            ]
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_is_kept_as_an_error() {
        let lines = input_lines(b"\xff\xfe\n{}\n");
        assert_eq!(lines.len(), 2);
        assert!(lines[0].text.is_err());
    }

    #[test]
    fn parameters_are_strings_and_numbers_or_booleans_become_their_text() {
        let p = line_parameters(r#"{"ThingName": "bus-1", "Serial": 42, "Fleet": true}"#).unwrap();
        assert_eq!(p["ThingName"], "bus-1");
        assert_eq!(p["Serial"], "42");
        assert_eq!(p["Fleet"], "true");
        assert!(line_parameters(r#"{"A": {"nested": 1}}"#).is_err());
        assert!(line_parameters(r#"["A"]"#).is_err());
        assert!(line_parameters("not json").is_err());
    }

    #[test]
    fn report_lines_follow_aws_shapes() {
        let line = InputLine {
            number: 3,
            offset: 210,
            text: Ok("{}".into()),
        };
        let registered = RegisteredThing {
            certificate_pem: Some("PEM".into()),
            resource_arns: BTreeMap::from([(
                "thing".to_owned(),
                "arn:aws:iot:us-east-1:123456789012:thing/a".to_owned(),
            )]),
            thing_name: Some("a".into()),
        };
        let result = result_line(&line, &registered);
        assert_eq!(result["lineNumber"], 3);
        assert_eq!(result["offset"], 210);
        assert_eq!(result["response"]["CertificatePem"], "PEM");
        assert_eq!(
            result["response"]["ResourceArns"]["thing"],
            "arn:aws:iot:us-east-1:123456789012:thing/a"
        );
        let error = error_line(&line, &ApiError::invalid("bad line"));
        assert_eq!(error["response"], Value::Null);
        assert_eq!(error["errorMessage"], "InvalidRequestException: bad line");
    }

    #[test]
    fn report_urls_escape_what_a_url_path_cannot_hold() {
        assert_eq!(
            file_url(Path::new("/srv/batches/a b#1.jsonl")),
            "file:///srv/batches/a%20b%231.jsonl"
        );
    }

    #[test]
    fn input_keys_may_not_leave_their_bucket() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.jsonl"), "{}\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/in.jsonl"), "{}\n").unwrap();
        let bulk = BulkRegistration::default();
        bulk.set_buckets(BTreeMap::from([(
            "batches".to_owned(),
            dir.path().to_owned(),
        )]));
        assert!(bulk.input_path("batches", "in.jsonl").is_ok());
        assert!(bulk.input_path("batches", "sub/in.jsonl").is_ok());
        for key in [
            "../in.jsonl",
            "/etc/passwd",
            "sub/../../x",
            "missing.jsonl",
            "sub",
        ] {
            assert!(bulk.input_path("batches", key).is_err(), "{key}");
        }
        assert!(bulk.input_path("other", "in.jsonl").is_err());
    }
}
