//! A compromised CA: hold many devices' connections, revoke every certificate the CA signed
//! with `POST /roost/cacertificates/{id}/revoke-all` (what `roost ca revoke-all` sends), and
//! time until the broker has cut the last of them.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::control_plane::ControlPlane;
use crate::error::BenchError;
use crate::progress::{Counters, Progress};
use crate::scenario::connect::{label_suffix, open_many};
use crate::scenario::{ErrorTally, Outcome, RunContext, TargetInfo};

/// How long the broker gets to cut every connection before the run gives up.
const CUT_DEADLINE: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Debug, Clone)]
pub struct RevokePlan {
    /// Connections to open (devices signed by the CA) before revoking.
    pub connections: usize,
    /// Connects in flight at once while opening them.
    pub concurrency: usize,
    /// The CA whose certificates are revoked.
    pub ca_id: String,
}

/// What a revocation cost.
#[derive(Debug, Clone, Serialize)]
pub struct RevokeOutcome {
    /// `"revoke"`.
    pub scenario: &'static str,
    #[serde(flatten)]
    pub target: TargetInfo,
    /// Connections open when the request was sent.
    pub held: usize,
    /// Connects that failed while opening them.
    pub errors: ErrorTally,
    /// Certificates the request revoked (its answer).
    pub revoked: Option<u64>,
    /// From sending the request to its answer, seconds.
    pub answer_s: f64,
    /// From sending the request to the last connection cut, seconds.
    pub all_cut_s: f64,
    /// Connections still open at the deadline.
    pub still_open: usize,
}

impl Outcome for RevokeOutcome {
    fn summary(&self) -> String {
        format!(
            "revoke{}: {} connections; answered in {:.3} s, all cut {:.3} s after the request ({} still open){}",
            label_suffix(&self.target),
            self.held,
            self.answer_s,
            self.all_cut_s,
            self.still_open,
            self.errors.describe()
        )
    }
}

/// Opens the connections, revokes the CA's certificates and waits until every connection
/// has been closed by the broker.
pub async fn run(
    ctx: &RunContext,
    control: &ControlPlane,
    plan: &RevokePlan,
) -> Result<RevokeOutcome, BenchError> {
    let counters = Counters::shared();
    let progress = Progress::start("revoke", "open", counters.clone(), ctx.quiet);
    let (sessions, errors) = open_many(ctx, plan.connections, plan.concurrency, &counters).await;
    progress.stop();
    let held = sessions.len();
    // Each connection's reader runs until the broker closes it, and says when.
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let watchers: Vec<_> = sessions
        .into_iter()
        .map(|mut session| {
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                while session.reader.next().await.is_ok() {}
                let _ = closed_tx.send(Instant::now());
                session
            })
        })
        .collect();
    drop(closed_tx);

    let path = format!("/roost/cacertificates/{}/revoke-all", plan.ca_id);
    let sent = Instant::now();
    let answer = control.call("POST", &path, None, None).await?;
    let answer_s = sent.elapsed().as_secs_f64();
    let mut cut = 0;
    let mut last = sent;
    let deadline = tokio::time::Instant::now() + CUT_DEADLINE;
    while cut < held {
        match tokio::time::timeout_at(deadline, closed.recv()).await {
            Ok(Some(at)) => {
                cut += 1;
                last = last.max(at);
            }
            Ok(None) | Err(_) => break,
        }
    }
    for watcher in watchers {
        watcher.abort();
    }
    Ok(RevokeOutcome {
        scenario: "revoke",
        target: ctx.target_info(),
        held,
        errors,
        revoked: answer
            .get("revokedCount")
            .and_then(serde_json::Value::as_u64),
        answer_s,
        all_cut_s: last.duration_since(sent).as_secs_f64(),
        still_open: held - cut,
    })
}
