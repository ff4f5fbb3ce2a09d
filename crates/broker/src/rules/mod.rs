//! The rules engine: topic rules (AWS IoT SQL) run on the messages the broker accepts.
//!
//! The publisher's path only matches the message's topic against the enabled rules' FROM
//! filters (a topic trie, under a read lock; one atomic load when there are no rules) and hands
//! each match to a worker through a bounded queue. Workers evaluate the SQL and run the
//! actions (republish, http) and, when an action fails, the rule's error action. A full queue
//! drops the match, counts it, and reports it through the error action. Each rule goes to one
//! worker, so a rule sees messages in the order they were accepted.
//!
//! Rules and enabled destinations are read from the registry at start-up and again whenever a
//! rule or destination changes (the registry's change events).

mod actions;
mod http;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use metrics::Counter;
use roost_mqtt::{MatchSet, Message, SessionKey, SubscriptionEntry, SubscriptionFilter};
use roost_mqtt::{SubscriptionTrie, TopicLimits};
use roost_registry::{Registry, RegistryError};
use roost_rules::CompiledRule;
use tokio::sync::mpsc;

pub use actions::ActionOutcome;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct RulesConfig {
    /// Worker tasks evaluating rules and running their actions.
    pub workers: usize,
    /// Matches waiting per worker; beyond it a match is dropped and reported.
    pub queue_capacity: usize,
    /// Longest one HTTP action attempt may take (AWS: 3 s).
    pub http_timeout: Duration,
    /// Attempts of an HTTP action that fails with 429, 5xx or a transport error (AWS: 3).
    pub http_attempts: u32,
    /// CAs trusted for `https://` actions, PEM; `None`: the system's roots.
    pub http_roots_pem: Option<String>,
    /// The keys an http action with `auth.sigv4` signs with: Roost's own (on AWS, the
    /// role's). `None`: such actions fail, saying so.
    pub signing_keys: Option<SigningKeys>,
}

/// An access key pair Roost signs outgoing requests with.
#[derive(Clone)]
pub struct SigningKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            queue_capacity: 10_000,
            http_timeout: Duration::from_secs(3),
            http_attempts: 3,
            http_roots_pem: None,
            signing_keys: None,
        }
    }
}

/// Dropped matches waiting to be reported through their rules' error actions.
const DROP_REPORTS: usize = 1024;

/// Who sent a message, for `clientid()`, `principal()` and `sourceip()`.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub client_id: Option<String>,
    pub principal: Option<String>,
    pub source_ip: Option<String>,
}

/// A rule as the engine runs it, with its metrics.
#[derive(Debug)]
pub(crate) struct LoadedRule {
    pub(crate) compiled: CompiledRule,
    pub(crate) metrics: RuleMetrics,
}

/// Per-rule counters in /metrics, labelled with the rule's name.
#[derive(Debug, Clone)]
pub(crate) struct RuleMetrics {
    /// Messages whose topic matched and whose WHERE held.
    pub(crate) matched: Counter,
    pub(crate) actions_succeeded: Counter,
    pub(crate) actions_failed: Counter,
    /// Matches dropped because the rule's worker queue was full.
    pub(crate) queue_dropped: Counter,
    pub(crate) error_actions: Counter,
}

impl RuleMetrics {
    fn new(rule: &str) -> Self {
        let rule = rule.to_owned();
        Self {
            matched: metrics::counter!("roost_rule_messages_matched_total", "rule" => rule.clone()),
            actions_succeeded: metrics::counter!("roost_rule_actions_total", "rule" => rule.clone(), "outcome" => "succeeded"),
            actions_failed: metrics::counter!("roost_rule_actions_total", "rule" => rule.clone(), "outcome" => "failed"),
            queue_dropped: metrics::counter!("roost_rule_queue_dropped_total", "rule" => rule.clone()),
            error_actions: metrics::counter!("roost_rule_error_actions_total", "rule" => rule),
        }
    }
}

/// The enabled rules, indexed by FROM filter, and the enabled HTTP destinations.
#[derive(Default)]
pub(crate) struct RuleSet {
    trie: SubscriptionTrie,
    rules: Vec<Arc<LoadedRule>>,
    by_name: HashMap<String, usize>,
    /// First levels of the FROM filters, and whether one starts with a wildcard: most
    /// messages match no rule, and this tells so without walking the trie.
    first_levels: HashSet<String>,
    wildcard_first: bool,
    /// URLs of the ENABLED topic rule destinations.
    pub(crate) destinations: Vec<String>,
}

impl RuleSet {
    fn new(rules: Vec<CompiledRule>, destinations: Vec<String>, limits: &TopicLimits) -> Self {
        let mut set = RuleSet {
            destinations,
            ..RuleSet::default()
        };
        for compiled in rules.into_iter().filter(|r| !r.disabled) {
            let index = set.rules.len();
            if !compiled.topic_pattern.is_empty() {
                match SubscriptionFilter::parse(&compiled.topic_pattern, limits) {
                    Ok(filter) => {
                        match filter.filter().as_str().split('/').next() {
                            Some("+" | "#") | None => set.wildcard_first = true,
                            Some(first) => {
                                set.first_levels.insert(first.to_owned());
                            }
                        }
                        let entry = SubscriptionEntry {
                            qos: roost_codec::QoS::AtMostOnce,
                            no_local: false,
                            retain_as_published: false,
                            id: None,
                        };
                        set.trie.insert(SessionKey(index as u64), &filter, entry);
                    }
                    Err(error) => {
                        tracing::warn!(rule = %compiled.name, %error, "the rule's FROM filter is not a valid topic filter; it runs on Basic Ingest only");
                    }
                }
            }
            set.by_name.insert(compiled.name.clone(), index);
            let metrics = RuleMetrics::new(&compiled.name);
            set.rules.push(Arc::new(LoadedRule { compiled, metrics }));
        }
        set
    }

    /// Whether a rule's FROM filter could match `topic`.
    fn might_match(&self, topic: &str) -> bool {
        self.wildcard_first
            || topic
                .split('/')
                .next()
                .is_some_and(|first| self.first_levels.contains(first))
    }

    /// Whether `url` lies under an enabled destination.
    pub(crate) fn destination_enabled(&self, url: &str) -> bool {
        self.destinations
            .iter()
            .any(|destination| roost_rules::destination_covers(destination, url))
    }
}

/// One match for a worker.
pub(crate) struct Job {
    pub(crate) rule: Arc<LoadedRule>,
    pub(crate) rules: Arc<RuleSet>,
    pub(crate) message: Message,
    /// The topic as `topic()` sees it (Basic Ingest: without `$aws/rules/<rule>/`).
    pub(crate) topic: String,
    pub(crate) origin: Arc<Origin>,
    /// When the broker accepted the message, epoch milliseconds.
    pub(crate) received_ms: i64,
}

/// The receiving ends of the workers' queues and of the dropped-match reports.
type Receivers = (Vec<mpsc::Receiver<Job>>, mpsc::Receiver<Job>);

/// The engine's shared state: the rule set and the workers' queues.
pub struct RuleEngine {
    set: RwLock<Arc<RuleSet>>,
    /// Whether any enabled rule exists: the publisher's whole cost when none does.
    active: AtomicBool,
    queues: Vec<mpsc::Sender<Job>>,
    /// Dropped matches of rules with an error action, to report (bounded too: beyond it a drop
    /// is only counted).
    dropped: mpsc::Sender<Job>,
    /// The queues' receiving ends, until the workers take them.
    receivers: Mutex<Option<Receivers>>,
    limits: TopicLimits,
    pub(crate) config: RulesConfig,
}

impl std::fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEngine").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    crate::retained::epoch_ms()
}

impl RuleEngine {
    /// An engine with no rules yet; `limits` are the broker's topic limits (FROM filters are
    /// parsed with them).
    pub fn new(config: RulesConfig, limits: TopicLimits) -> Self {
        let workers = config.workers.max(1);
        let (queues, receivers) = (0..workers)
            .map(|_| mpsc::channel(config.queue_capacity.max(1)))
            .unzip();
        let (dropped, dropped_receiver) = mpsc::channel(DROP_REPORTS);
        Self {
            set: RwLock::default(),
            active: AtomicBool::new(false),
            queues,
            dropped,
            receivers: Mutex::new(Some((receivers, dropped_receiver))),
            limits,
            config,
        }
    }

    fn current(&self) -> Arc<RuleSet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the rule set.
    pub(crate) fn replace(&self, rules: Vec<CompiledRule>, destinations: Vec<String>) {
        let set = RuleSet::new(rules, destinations, &self.limits);
        let active = !set.rules.is_empty();
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        self.active.store(active, Ordering::Release);
    }

    /// Reads every rule and enabled destination from the registry. A stored rule that no
    /// longer compiles is skipped and logged.
    pub async fn reload(&self, registry: &Registry) -> Result<(), RegistryError> {
        let (rules, destinations) = load(registry).await?;
        let count = rules.len();
        self.replace(rules, destinations);
        tracing::debug!(rules = count, "topic rules loaded");
        Ok(())
    }

    /// Names of the loaded (enabled) rules.
    pub fn rule_names(&self) -> Vec<String> {
        self.current()
            .rules
            .iter()
            .map(|r| r.compiled.name.clone())
            .collect()
    }

    /// Whether any rule is enabled: callers skip building what [`RuleEngine::offer`] needs
    /// when none is.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Offers a message the broker accepted to every enabled rule whose FROM filter matches
    /// its topic. Never waits.
    pub fn offer(&self, message: &Message, origin: &Arc<Origin>, scratch: &mut MatchSet) {
        if !self.is_active() {
            return;
        }
        let set = {
            let current = self.set.read().unwrap_or_else(|p| p.into_inner());
            if !current.might_match(message.topic.as_str()) {
                return;
            }
            scratch.clear();
            current.trie.matches(&message.topic, None, scratch);
            if scratch.sessions.is_empty() {
                return;
            }
            current.clone()
        };
        let received_ms = now_ms();
        for m in scratch.sessions.drain(..) {
            let Some(rule) = set.rules.get(m.session.0 as usize) else {
                continue;
            };
            self.enqueue(Job {
                rule: rule.clone(),
                rules: set.clone(),
                message: message.clone(),
                topic: message.topic.as_str().to_owned(),
                origin: origin.clone(),
                received_ms,
            });
        }
    }

    /// A Basic Ingest publish (`$aws/rules/<rule>/<rest>`): it goes to that rule only, never
    /// to subscribers. A missing or disabled rule is only logged, as on AWS.
    pub fn ingest(&self, rule_name: &str, rest: &str, message: &Message, origin: &Arc<Origin>) {
        let set = self.current();
        let Some(rule) = set.by_name.get(rule_name).and_then(|&i| set.rules.get(i)) else {
            tracing::debug!(
                rule = rule_name,
                "Basic Ingest to a rule that does not exist or is disabled"
            );
            metrics::counter!("roost_rule_not_found_total").increment(1);
            return;
        };
        self.enqueue(Job {
            rule: rule.clone(),
            rules: set.clone(),
            message: message.clone(),
            topic: rest.to_owned(),
            origin: origin.clone(),
            received_ms: now_ms(),
        });
    }

    fn enqueue(&self, job: Job) {
        let worker = worker_of(&job.rule.compiled.name, self.queues.len());
        if let Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) =
            self.queues[worker].try_send(job)
        {
            // Counted, and reported through the errorAction; a line per drop would flood the
            // log exactly when the broker is busiest.
            job.rule.metrics.queue_dropped.increment(1);
            tracing::debug!(rule = %job.rule.compiled.name, "the rule's queue is full; the message is dropped");
            if job.rule.compiled.error_action.is_some() {
                let _ = self.dropped.try_send(job);
            }
        }
    }

    /// Takes the queues' receiving ends, once, for [`start_workers`].
    fn take_receivers(&self) -> Option<Receivers> {
        self.receivers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Sends a topic rule destination's confirmation message to its URL, as AWS does: the body
/// carries the token and the URL that enables the destination.
pub async fn send_destination_confirmation(
    config: &RulesConfig,
    url: &str,
    arn: &str,
    token: &str,
    enable_url: &str,
) -> Result<(), String> {
    let body = roost_rules::confirmation_body(arn, token, enable_url).to_string();
    let headers = [
        ("content-type".to_owned(), "application/json".to_owned()),
        (
            "x-amz-rules-engine-message-type".to_owned(),
            "DestinationConfirmation".to_owned(),
        ),
        (
            "x-amz-rules-engine-destination-arn".to_owned(),
            arn.to_owned(),
        ),
    ];
    match http::post(url, &headers, body.into_bytes(), None, config).await {
        ActionOutcome::Succeeded => Ok(()),
        ActionOutcome::Failed(error) => Err(error),
    }
}

/// The worker a rule's messages go to: always the same one, so they stay in order.
fn worker_of(rule: &str, workers: usize) -> usize {
    // FNV-1a: a stable, cheap hash of the name.
    let hash = rule.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % workers.max(1) as u64) as usize
}

/// Starts the workers of `core`'s engine.
pub(crate) fn start_workers(core: &Arc<crate::BrokerCore>) {
    let Some((receivers, mut dropped)) = core.rules.take_receivers() else {
        return;
    };
    for mut receiver in receivers {
        let core = core.clone();
        tokio::spawn(async move {
            while let Some(job) = receiver.recv().await {
                actions::run(&core, job).await;
            }
        });
    }
    let core = core.clone();
    tokio::spawn(async move {
        while let Some(job) = dropped.recv().await {
            actions::report_dropped(&core, job).await;
        }
    });
}

/// The rules and enabled destination URLs stored in the registry.
async fn load(registry: &Registry) -> Result<(Vec<CompiledRule>, Vec<String>), RegistryError> {
    let mut rules = Vec::new();
    for stored in registry.all_topic_rules().await? {
        match stored.compile() {
            Ok(rule) => rules.push(rule),
            Err(error) => {
                tracing::warn!(rule = %stored.name, %error, "a stored topic rule does not compile; skipped");
            }
        }
    }
    let destinations = registry
        .all_topic_rule_destinations()
        .await?
        .into_iter()
        .filter(|d| d.status == roost_rules::DestinationStatus::Enabled)
        .map(|d| d.confirmation_url)
        .collect();
    Ok((rules, destinations))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, from: &str) -> CompiledRule {
        let payload: roost_rules::TopicRulePayload = serde_json::from_value(serde_json::json!({
            "sql": format!("SELECT * FROM '{from}'"),
            "actions": []
        }))
        .expect("a payload");
        roost_rules::compile(name, &payload).expect("compiles")
    }

    #[test]
    fn only_topics_under_a_from_filters_first_level_are_walked() {
        let set = RuleSet::new(
            vec![rule("a", "sensors/+/telemetry"), rule("b", "plant/#")],
            Vec::new(),
            &TopicLimits::MQTT,
        );
        assert!(set.might_match("sensors/x/telemetry"));
        assert!(set.might_match("plant"));
        assert!(!set.might_match("roost-bench/1"));
        let wild = RuleSet::new(vec![rule("c", "+/status")], Vec::new(), &TopicLimits::MQTT);
        assert!(wild.might_match("anything/status"));
    }

    #[test]
    fn a_rule_always_goes_to_the_same_worker() {
        for workers in 1..5 {
            let first = worker_of("telemetry_to_backend", workers);
            assert!(first < workers);
            assert_eq!(first, worker_of("telemetry_to_backend", workers));
        }
    }
}
