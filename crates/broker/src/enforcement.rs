//! Live enforcement: registry commits reach the data plane at once. The trust view is updated
//! from each commit's events, connections of a certificate that stopped being ACTIVE are
//! closed, and connections whose policies may have changed re-read them.

use std::collections::BTreeSet;
use std::sync::Arc;

use roost_codec::ReasonCode;
use roost_registry::model::CertificateStatus;
use roost_registry::{ChangeListener, Registry, RegistryEvent, ResourceArn};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::BrokerCore;
use crate::index::RefreshScope;
use crate::lifecycle::DisconnectReason;

struct Forwarder {
    events: mpsc::UnboundedSender<(u64, Vec<RegistryEvent>)>,
}

impl ChangeListener for Forwarder {
    fn on_commit(&self, commit: u64, events: &[RegistryEvent]) {
        let _ = self.events.send((commit, events.to_vec()));
    }
}

pub(crate) fn start(core: Arc<BrokerCore>, registry: &Registry, shutdown: CancellationToken) {
    let (tx, rx) = mpsc::unbounded_channel();
    registry.subscribe(Arc::new(Forwarder { events: tx }));
    tokio::spawn(run(core, rx, shutdown));
}

/// What one batch of events asks the data plane to do.
#[derive(Debug, Default)]
struct Work {
    /// The latest commit whose events are in this batch.
    through: u64,
    certificates: BTreeSet<String>,
    cas: BTreeSet<String>,
    refresh: RefreshScope,
    /// A topic rule or destination changed: the rules engine reloads.
    rules: bool,
}

impl Work {
    fn add(&mut self, core: &BrokerCore, event: RegistryEvent) {
        let certificate_of = |arn: &str| match core.registry.arns().parse("arn", arn) {
            Ok(ResourceArn::Certificate(id)) => Some(id.to_string()),
            _ => None,
        };
        match event {
            RegistryEvent::CertificateChanged { certificate_id } => {
                self.certificates.insert(certificate_id);
            }
            RegistryEvent::CaCertificateChanged { ca_id } => {
                self.cas.insert(ca_id);
            }
            RegistryEvent::PolicyChanged { policy_name } => {
                self.refresh.policies.insert(policy_name);
            }
            RegistryEvent::PolicyAttachmentChanged { target, .. } => {
                match certificate_of(&target) {
                    Some(id) => {
                        self.refresh.certificates.insert(id);
                    }
                    None => self.refresh.all = true,
                }
            }
            RegistryEvent::ThingChanged { thing_name } => {
                self.refresh.things.insert(thing_name);
            }
            RegistryEvent::ThingPrincipalChanged { principal, .. } => {
                if let Some(id) = certificate_of(&principal) {
                    self.refresh.certificates.insert(id);
                }
            }
            RegistryEvent::ThingGroupChanged { .. } => self.refresh.all = true,
            // Rules do not change what a connection may do.
            RegistryEvent::TopicRuleChanged { .. }
            | RegistryEvent::TopicRuleDestinationChanged { .. } => self.rules = true,
        }
    }
}

async fn run(
    core: Arc<BrokerCore>,
    mut events: mpsc::UnboundedReceiver<(u64, Vec<RegistryEvent>)>,
    shutdown: CancellationToken,
) {
    loop {
        let (commit, batch) = tokio::select! {
            () = shutdown.cancelled() => return,
            batch = events.recv() => match batch {
                Some(batch) => batch,
                None => return,
            },
        };
        let mut work = Work {
            through: commit,
            ..Work::default()
        };
        for event in batch {
            work.add(&core, event);
        }
        // Take whatever else is already waiting, so a storm of commits is handled in bulk.
        while let Ok((commit, more)) = events.try_recv() {
            work.through = commit;
            for event in more {
                work.add(&core, event);
            }
        }
        apply(&core, work).await;
    }
}

async fn apply(core: &BrokerCore, work: Work) {
    if work.rules
        && let Err(error) = core.rules.reload(&core.registry).await
    {
        tracing::error!(%error, "reloading the topic rules failed");
    }
    for ca_id in &work.cas {
        match core.registry.find_ca_certificate(ca_id).await {
            Ok(Some(ca)) => core.trust.put_ca(ca),
            Ok(None) => core.trust.remove_ca(ca_id),
            Err(error) => tracing::error!(ca = %ca_id, %error, "re-reading a CA failed"),
        }
    }
    if !work.certificates.is_empty() {
        let ids: Vec<String> = work.certificates.iter().cloned().collect();
        match core.registry.certificate_trust_many(&ids).await {
            Ok(found) => {
                let mut still_active = BTreeSet::new();
                let mut registered = BTreeSet::new();
                for trust in found {
                    registered.insert(trust.id.clone());
                    if trust.status == CertificateStatus::Active {
                        still_active.insert(trust.id.clone());
                    }
                    core.trust.put_certificate(trust);
                }
                let mut cut = Vec::new();
                for id in ids {
                    if !registered.contains(&id) {
                        core.trust.remove_certificate(&id);
                        // Not a device certificate: perhaps a trusted-user claim certificate.
                        match core.registry.provisioning_claim(&id).await {
                            Ok(Some(claim)) => {
                                core.trust.put_claim(claim);
                                continue;
                            }
                            Ok(None) => core.trust.remove_claim(&id),
                            Err(error) => tracing::error!(%error, "re-reading a claim failed"),
                        }
                    }
                    if !still_active.contains(&id) {
                        cut.push(id);
                    }
                }
                let closed = core.index.close_certificates(
                    &cut,
                    ReasonCode::AdministrativeAction,
                    DisconnectReason::CertificateCutOff,
                );
                if closed > 0 {
                    tracing::info!(
                        certificates = cut.len(),
                        connections = closed,
                        "certificates no longer ACTIVE; their connections were closed"
                    );
                }
            }
            Err(error) => tracing::error!(%error, "re-reading changed certificates failed"),
        }
    }
    if !work.refresh.is_empty() {
        core.index.refresh(work.through, work.refresh);
    }
}
