//! One client connection: a thin tokio driver around the sans-IO [`roost_mqtt::Connection`].
//!
//! The task reads and decodes packets, feeds them and the deliveries from its mailbox to the
//! session machine, routes what the session publishes, writes what it transmits, and keeps its
//! timers. Admission (certificate status), authorization (IoT policies), takeover, lifecycle
//! events and the hand-back of persistent sessions happen here, around the machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use roost_codec::{
    ConnAck, ConnAckProperties, Connect, DecodeError, Packet, ProtocolVersion, PublishProperties,
    QoS, ReasonCode,
};
use roost_mqtt::{
    Authorizer as _, Connection, Delivery, Event, MatchSet, Message, PendingWill, SessionKey,
};
use roost_policy::{Context, PolicyDocument, PolicySet};
use roost_registry::{ConnectionThing, PrincipalGrants};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::BrokerCore;
use crate::authorization::{ConnectionAuthorizer, filter_text};
use crate::fleet::{FleetRequest, Requester};
use crate::identity::principal::{Admission, Principal, admit, claim_policy, policy_context};
use crate::index::Dependencies;
use crate::lifecycle::{self, EventSource};
use crate::router::{Busy, Control, Mailbox};

/// Most deliveries taken from the mailbox before the socket is written.
const DELIVERY_BATCH: usize = 64;
/// How long the last packets (a DISCONNECT) may take to flush when a connection closes. Kept
/// short: a peer that does not read must not delay a revocation or a takeover.
const CLOSING_FLUSH: Duration = Duration::from_millis(500);

/// How the peer authenticated.
#[derive(Debug)]
pub enum PeerIdentity {
    /// The TLS client certificate chain, leaf first.
    Certificates(Vec<CertificateDer<'static>>),
    /// The insecure plaintext listener: no identity, its own policy.
    Insecure,
}

/// Why a connection ended, as the lifecycle event's `disconnectReason` says it.
fn lifecycle_reason(reason: ReasonCode) -> &'static str {
    match reason {
        ReasonCode::Success | ReasonCode::DisconnectWithWillMessage => {
            "CLIENT_INITIATED_DISCONNECT"
        }
        ReasonCode::KeepAliveTimeout => "MQTT_KEEP_ALIVE_TIMEOUT",
        ReasonCode::SessionTakenOver => "DUPLICATE_CLIENTID",
        ReasonCode::NotAuthorized => "AUTH_ERROR",
        ReasonCode::ServerShuttingDown => "SERVER_INITIATED_DISCONNECT",
        ReasonCode::AdministrativeAction => "SERVER_INITIATED_DISCONNECT",
        _ => "CLIENT_ERROR",
    }
}

/// The authorizer and what it was built from.
struct Grants {
    authorizer: ConnectionAuthorizer,
    thing: Option<ConnectionThing>,
    dependencies: Dependencies,
}

/// Resolves the policies that apply to a connection and binds them to its context.
async fn resolve_grants(
    core: &BrokerCore,
    principal: Option<&Principal>,
    provisioned: Option<PrincipalGrants>,
    client_id: &str,
    peer: SocketAddr,
    connect_attributes: Vec<String>,
) -> Result<Grants, roost_registry::RegistryError> {
    let (set, thing, names) = match principal {
        Some(principal) if principal.claim_template.is_some() => {
            let template = principal.claim_template.as_deref().unwrap_or_default();
            let text = claim_policy(&core.config.region, &core.config.account, template);
            let set = match PolicyDocument::parse(&text) {
                Ok(document) => {
                    PolicySet::new([("provisioning-claim".to_owned(), Arc::new(document))])
                }
                Err(error) => {
                    tracing::error!(%error, "the implicit claim policy does not parse");
                    PolicySet::new([])
                }
            };
            (set, None, Vec::new())
        }
        Some(principal) => {
            let grants = match provisioned {
                Some(grants) => grants,
                None => {
                    core.registry
                        .principal_grants(&principal.certificate_id, client_id)
                        .await?
                }
            };
            let mut names = Vec::with_capacity(grants.policies.len());
            let mut documents = Vec::with_capacity(grants.policies.len());
            for (name, text) in grants.policies {
                match PolicyDocument::parse(&text) {
                    Ok(document) => {
                        names.push(name.clone());
                        documents.push((name, Arc::new(document)));
                    }
                    // Stored documents were validated when written; one that no longer parses
                    // (a validator change) grants nothing rather than failing the connection.
                    Err(error) => {
                        tracing::warn!(policy = %name, %error, "stored policy does not parse")
                    }
                }
            }
            (PolicySet::new(documents), grants.thing, names)
        }
        None => (
            core.insecure_policy
                .clone()
                .unwrap_or_else(|| PolicySet::new([])),
            None,
            Vec::new(),
        ),
    };
    let context: Context = policy_context(
        &core.config.region,
        &core.config.account,
        client_id,
        Some(peer.ip()),
        principal,
        thing.as_ref(),
        connect_attributes,
    );
    Ok(Grants {
        authorizer: ConnectionAuthorizer::new(set.bind(&context)),
        dependencies: Dependencies {
            certificate_id: principal.map(|p| p.certificate_id.clone()),
            thing: thing.as_ref().map(|t| t.thing.name.clone()),
            policies: names,
        },
        thing,
    })
}

/// The connect attributes of a CONNECT (`iot:ConnectAttributes`).
fn connect_attributes(connect: &Connect) -> Vec<String> {
    let persistent = if connect.protocol_version.is_v5() {
        connect.properties.session_expiry_interval.unwrap_or(0) > 0
    } else {
        !connect.clean_start
    };
    let mut attributes = Vec::new();
    if persistent {
        attributes.push("PersistentConnect".to_owned());
    }
    if connect.will.is_some() {
        attributes.push("LastWill".to_owned());
    }
    attributes
}

/// Reads until a CONNECT is decoded; `None` on EOF or a malformed first packet.
async fn read_connect<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max_packet_size: u32,
) -> Result<Option<Connect>, DecodeError> {
    loop {
        if let Some(connect) = roost_codec::decode_connect(buf, max_packet_size)? {
            return Ok(Some(connect));
        }
        match reader.read_buf(buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// Writes one packet outside the session machine (a refusing CONNACK).
async fn write_packet<W: AsyncWrite + Unpin>(
    writer: &mut W,
    packet: &Packet,
    version: ProtocolVersion,
) {
    let mut buf = BytesMut::new();
    if roost_codec::encode(packet, version, &mut buf).is_ok() {
        let _ = tokio::time::timeout(CLOSING_FLUSH, async {
            let _ = writer.write_all(&buf).await;
            let _ = writer.shutdown().await;
        })
        .await;
    }
}

fn refusal_connack(version: ProtocolVersion, reason: &str) -> Packet {
    let mut properties = ConnAckProperties::default();
    if version.is_v5() {
        properties.reason_string = Some(reason.to_owned());
    }
    Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        reason_code: ReasonCode::NotAuthorized,
        properties,
    }))
}

/// Serves one connection from its first byte to its close, in its own span.
pub async fn serve<S>(core: Arc<BrokerCore>, stream: S, peer: SocketAddr, identity: PeerIdentity)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let span = tracing::info_span!(
        "mqtt",
        %peer,
        client_id = tracing::field::Empty,
        certificate = tracing::field::Empty
    );
    serve_in_span(core, stream, peer, identity)
        .instrument(span)
        .await;
}

async fn serve_in_span<S>(
    core: Arc<BrokerCore>,
    stream: S,
    peer: SocketAddr,
    identity: PeerIdentity,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut rbuf = BytesMut::with_capacity(4096);
    let max_packet = core.settings.maximum_packet_size;
    let connect = match tokio::time::timeout(
        core.config.connect_timeout,
        read_connect(&mut reader, &mut rbuf, max_packet),
    )
    .await
    {
        Ok(Ok(Some(connect))) => connect,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "malformed CONNECT");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no CONNECT in time");
            return;
        }
    };
    let version = connect.protocol_version;
    let connection_id = core.next_connection_id();
    let client_id = if connect.client_id.is_empty() {
        format!("roost-{}", uuid::Uuid::new_v4().simple())
    } else {
        connect.client_id.clone()
    };
    let span = tracing::Span::current();
    span.record("client_id", client_id.as_str());

    let mut source = EventSource {
        client_id: client_id.clone(),
        thing_name: None,
        session_identifier: uuid::Uuid::new_v4().to_string(),
        principal_identifier: String::new(),
        ip_address: peer.ip().to_string(),
        version_number: connection_id,
    };

    // Who is it? (Just provisioned: with everything attached to it, known already.)
    let (principal, provisioned) = match identity {
        PeerIdentity::Insecure => (None, None),
        PeerIdentity::Certificates(chain) => {
            let now = crate::unix_now();
            match admit(&core.trust, &chain, now) {
                Admission::Admitted(principal) => (Some(principal), None),
                Admission::Unregistered { certificate, ca } => {
                    // Boxed, like the other rare awaits here: a future held inline would enlarge
                    // every connection's task for its whole life (RSS per connection).
                    match Box::pin(core.provision(&certificate, &ca, &chain)).await {
                        Ok((principal, grants)) => (Some(principal), grants),
                        Err(refusal) => {
                            source.principal_identifier = certificate.id.clone();
                            tracing::info!(certificate = %certificate.id, ca = %ca.record.id, reason = %refusal, "connection refused");
                            core.publish_event(lifecycle::connect_failed(
                                &source,
                                "AUTHORIZATION_FAILED",
                            ));
                            write_packet(&mut writer, &refusal_connack(version, &refusal), version)
                                .await;
                            return;
                        }
                    }
                }
                Admission::Refused {
                    certificate_id,
                    refusal,
                } => {
                    source.principal_identifier = certificate_id.clone().unwrap_or_default();
                    tracing::info!(certificate = certificate_id.as_deref().unwrap_or("-"), reason = %refusal, "connection refused");
                    core.publish_event(lifecycle::connect_failed(&source, "AUTHORIZATION_FAILED"));
                    write_packet(
                        &mut writer,
                        &refusal_connack(version, &refusal.to_string()),
                        version,
                    )
                    .await;
                    return;
                }
            }
        }
    };
    if let Some(principal) = &principal {
        span.record("certificate", principal.certificate_id.as_str());
        source.principal_identifier = principal.certificate_id.clone();
    }

    // What may it do? Registry changes after the commit its policies reflect that reach the
    // index before the connection does are caught up with right after it is indexed (below).
    let read_after = match &provisioned {
        Some(grants) => grants.as_of_commit,
        None => core.registry.committed(),
    };
    let attributes = connect_attributes(&connect);
    let grants = match Box::pin(resolve_grants(
        &core,
        principal.as_ref(),
        provisioned.map(|grants| grants.for_client(&client_id)),
        &client_id,
        peer,
        attributes.clone(),
    ))
    .await
    {
        Ok(grants) => grants,
        Err(error) => {
            tracing::error!(%error, "reading the connection's policies failed");
            write_packet(
                &mut writer,
                &refusal_connack(version, "internal error"),
                version,
            )
            .await;
            return;
        }
    };
    source.thing_name = grants
        .thing
        .as_ref()
        .filter(|t| t.exclusive)
        .map(|t| t.thing.name.clone());
    let mut grants = grants;
    let denial = if !grants.authorizer.connect(&client_id).is_allowed() {
        Some(format!(
            "no policy allows iot:Connect for client id {client_id}"
        ))
    } else if let Some(will) = &connect.will
        && !grants.authorizer.will(will.topic.as_str(), will.retain)
    {
        Some(format!(
            "no policy allows publishing the will on {}",
            will.topic.as_str()
        ))
    } else {
        None
    };
    if let Some(reason) = denial {
        tracing::info!(%reason, "connection refused");
        core.publish_event(lifecycle::connect_failed(&source, "AUTHORIZATION_FAILED"));
        write_packet(&mut writer, &refusal_connack(version, &reason), version).await;
        return;
    }

    // Take the session (over), and start the machine.
    let (mailbox_tx, mut mailbox) = mpsc::channel::<Delivery>(core.config.mailbox_capacity);
    let stalled = Arc::new(AtomicBool::new(false));
    // Answers of Roost's device services (fleet provisioning) go to this connection only.
    let own_mailbox = mailbox_tx.clone();
    let (control_tx, mut control) = mpsc::unbounded_channel::<Control>();
    let clean_start = connect.clean_start;
    let attachment = core
        .router
        .attach(
            &client_id,
            connection_id,
            control_tx.clone(),
            Mailbox {
                sender: mailbox_tx,
                stalled: stalled.clone(),
            },
            clean_start,
        )
        .await;
    let key = attachment.key;
    let mut resumed = attachment.resumed;
    if let Some(stored) = resumed.as_mut() {
        // Messages queued while the client was away meet the policies in force now.
        let refused = stored.retain_queued(|d| grants.authorizer.receive(&d.message.topic));
        if refused > 0 {
            tracing::debug!(refused, "queued messages no longer allowed by iot:Receive");
        }
    }
    let now = Instant::now();
    let assigned = client_id.clone();
    let mut session = match Connection::accept(now, connect, &core.settings, resumed, move || {
        assigned
    }) {
        Ok(session) => session,
        Err(refused) => {
            let session = refused.resumed.unwrap_or_else(|| {
                roost_mqtt::SessionState::new(roost_mqtt::ClientId::new(&client_id))
            });
            core.router
                .detach(&client_id, connection_id, key, session, now);
            tracing::info!(reason = ?refused.connack.reason_code, "CONNECT refused by the session rules");
            write_packet(
                &mut writer,
                &Packet::ConnAck(Box::new(refused.connack)),
                version,
            )
            .await;
            return;
        }
    };
    if !session.session_present() {
        core.router.forget_subscriptions(key);
    }
    core.index.insert(
        connection_id,
        grants.dependencies.clone(),
        read_after,
        control_tx.clone(),
    );
    // Enforcement updates the trust view before it closes indexed connections, and records a
    // refresh when it sends one: a revocation or policy change that came while this
    // connection was being admitted (its policies read, a takeover awaited) shows here.
    if let Some(principal) = &principal
        && principal.claim_template.is_none()
        && core
            .trust
            .certificate(&principal.certificate_id)
            .is_none_or(|c| c.status != roost_registry::model::CertificateStatus::Active)
    {
        let _ = control_tx.send(Control::Close {
            reason: ReasonCode::AdministrativeAction,
            lifecycle: "AUTH_ERROR",
            done: None,
        });
    } else if core.index.missed_refresh(read_after, &grants.dependencies) {
        let _ = control_tx.send(Control::RefreshPolicy);
    }
    core.connections_gauge(1);
    tracing::debug!(
        ?version,
        session_present = session.session_present(),
        "connected"
    );
    if lifecycle::has_events(&client_id) {
        core.publish_event(lifecycle::connected(&source));
    }

    let mut driver = Driver {
        core: core.clone(),
        connection_id,
        key,
        client_id: client_id.clone(),
        version,
        wbuf: BytesMut::new(),
        unflushed: false,
        output_stalled: false,
        scratch: MatchSet::new(),
        source: source.clone(),
        lifecycle: None,
        takeover_done: None,
        client_disconnected: false,
        own_mailbox,
        stalled,
        busy: Vec::new(),
        certificate_id: principal.as_ref().map(|p| p.certificate_id.clone()),
    };
    let result = driver
        .run(
            &mut session,
            &mut grants,
            &mut reader,
            &mut writer,
            &mut rbuf,
            &mut mailbox,
            &mut control,
            principal.as_ref(),
            peer,
            attributes,
        )
        .await;
    if let Err(error) = result {
        tracing::debug!(%error, "connection I/O ended");
    }

    // Teardown: flush what is left (unless the peer stopped reading), hand the session back,
    // publish the will.
    if !driver.output_stalled {
        let _ = tokio::time::timeout(CLOSING_FLUSH, async {
            driver.encode(&mut session);
            driver.drain(&mut writer).await?;
            writer.shutdown().await
        })
        .await;
    }
    let reason = driver.lifecycle.unwrap_or_else(|| {
        session
            .closed()
            .map(lifecycle_reason)
            .unwrap_or("CONNECTION_LOST")
    });
    let ended_at = Instant::now();
    let ended = session.into_session_state();
    mailbox.close();
    let mut leftover = Vec::new();
    while let Ok(delivery) = mailbox.try_recv() {
        leftover.push(delivery);
    }
    core.router
        .detach(&client_id, connection_id, key, ended.session, ended_at);
    core.router.deliver_offline(key, leftover, ended_at);
    core.index.remove(connection_id);
    core.connections_gauge(-1);
    if let Some(done) = driver.takeover_done.take() {
        let _ = done.send(());
    }
    if let Some(will) = ended.will {
        core.schedule_will(client_id.clone(), key, will);
    }
    tracing::debug!(reason, "disconnected");
    if lifecycle::has_events(&client_id) {
        core.publish_event(lifecycle::disconnected(&source, reason));
    }
}

/// The state of the main loop that isn't the session machine.
struct Driver {
    core: Arc<BrokerCore>,
    connection_id: u64,
    key: SessionKey,
    client_id: String,
    version: ProtocolVersion,
    /// Encoded packets not yet accepted by the socket.
    wbuf: BytesMut,
    /// Bytes accepted by the socket (or the TLS layer) but not yet flushed.
    unflushed: bool,
    /// Set when the peer stopped accepting data: nothing more is written to it.
    output_stalled: bool,
    scratch: MatchSet,
    source: EventSource,
    /// Set when something outside the session decided why the connection ends.
    lifecycle: Option<&'static str>,
    takeover_done: Option<oneshot::Sender<()>>,
    client_disconnected: bool,
    own_mailbox: mpsc::Sender<Delivery>,
    /// This connection's mailbox was marked stalled by a publisher (see `router`).
    stalled: Arc<AtomicBool>,
    /// Deliveries of this connection's publishes whose mailboxes were full.
    busy: Vec<Busy>,
    certificate_id: Option<String>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    async fn run<S: AsyncRead + AsyncWrite>(
        &mut self,
        session: &mut Connection,
        grants: &mut Grants,
        reader: &mut ReadHalf<S>,
        writer: &mut WriteHalf<S>,
        rbuf: &mut BytesMut,
        mailbox: &mut mpsc::Receiver<Delivery>,
        control: &mut mpsc::UnboundedReceiver<Control>,
        principal: Option<&Principal>,
        peer: SocketAddr,
        attributes: Vec<String>,
    ) -> std::io::Result<()> {
        let max_packet = self.core.settings.maximum_packet_size;
        let write_timeout = self.core.config.write_timeout;
        // When the socket last accepted bytes (or output began waiting).
        let mut progress_at = Instant::now();
        loop {
            self.process_events(session, &grants.authorizer);
            if !self.busy.is_empty() {
                // Slow this publisher to its subscribers' pace rather than drop their messages.
                self.wait_for_room(session, &grants.authorizer).await;
            }
            let idle = !self.writing();
            self.encode(session);
            if idle && self.writing() {
                progress_at = Instant::now();
            }
            if session.closed().is_some() {
                if tokio::time::timeout(CLOSING_FLUSH, self.drain(writer))
                    .await
                    .is_err()
                {
                    self.output_stalled = true;
                }
                return Ok(());
            }
            // While output is pending, nothing new is read or taken from the mailbox (so a
            // client that does not read backs up into its bounded mailbox, not into memory),
            // but orders from outside (revocation, takeover, shutdown) are still obeyed.
            let writing = self.writing();
            let deadline = session.poll_timeout();
            tokio::select! {
                biased;
                order = control.recv() => match order {
                    Some(Control::Close { reason, lifecycle, done }) => {
                        self.lifecycle = Some(lifecycle);
                        self.takeover_done = done;
                        session.close(reason);
                    }
                    Some(Control::RefreshPolicy) => {
                        let read_after = self.core.registry.committed();
                        match Box::pin(resolve_grants(&self.core, principal, None, &self.client_id, peer, attributes.clone())).await {
                            Ok(fresh) => {
                                if fresh.authorizer.connect(&self.client_id).is_allowed() {
                                    self.core.index.update(self.connection_id, fresh.dependencies.clone(), read_after);
                                    *grants = fresh;
                                } else {
                                    tracing::info!("policy no longer allows iot:Connect; disconnecting");
                                    self.lifecycle = Some("AUTH_ERROR");
                                    session.close(ReasonCode::NotAuthorized);
                                }
                            }
                            Err(error) => tracing::error!(%error, "re-reading the connection's policies failed"),
                        }
                    }
                    None => return Ok(()),
                },
                written = push_output(writer, &mut self.wbuf, &mut self.unflushed), if writing => {
                    written?;
                    progress_at = Instant::now();
                }
                () = tokio::time::sleep_until((progress_at + write_timeout).into()), if writing => {
                    tracing::debug!(?write_timeout, "the client accepts no data; closing");
                    self.lifecycle.get_or_insert("CONNECTION_LOST");
                    self.output_stalled = true;
                    return Ok(());
                }
                read = reader.read_buf(rbuf), if !writing => {
                    match read {
                        Ok(0) => {
                            self.lifecycle.get_or_insert(if self.client_disconnected { "CLIENT_INITIATED_DISCONNECT" } else { "CONNECTION_LOST" });
                            return Ok(());
                        }
                        Ok(_) => {}
                        Err(error) => {
                            self.lifecycle.get_or_insert("CONNECTION_LOST");
                            return Err(error);
                        }
                    }
                    let now = Instant::now();
                    loop {
                        match roost_codec::decode(rbuf, self.version, max_packet) {
                            Ok(Some(packet)) => {
                                if matches!(packet, Packet::Disconnect(_)) {
                                    self.client_disconnected = true;
                                }
                                self.core.metrics.packets_received.increment(1);
                                if let Err(violation) = session.handle_packet(now, packet, &grants.authorizer) {
                                    tracing::debug!(reason = ?violation.reason, detail = violation.detail, "protocol violation; closing");
                                    break;
                                }
                                if session.closed().is_some() {
                                    break;
                                }
                            }
                            Ok(None) => break,
                            Err(error) => {
                                tracing::debug!(%error, "malformed packet; closing");
                                self.lifecycle = Some("CLIENT_ERROR");
                                session.close(error.reason_code());
                                break;
                            }
                        }
                    }
                }
                // While the session's queue is full (the client is behind on acknowledgements)
                // deliveries wait in the mailbox, and publishers wait for room (see `router`).
                delivery = mailbox.recv(), if !writing && session.accepts_deliveries() => {
                    let now = Instant::now();
                    self.stalled.store(false, Ordering::Relaxed);
                    if let Some(delivery) = delivery {
                        session.handle_delivery(now, delivery, &grants.authorizer);
                        for _ in 1..DELIVERY_BATCH {
                            if !session.accepts_deliveries() {
                                break;
                            }
                            match mailbox.try_recv() {
                                Ok(delivery) => session.handle_delivery(now, delivery, &grants.authorizer),
                                Err(_) => break,
                            }
                        }
                    }
                }
                () = sleep_until(deadline), if !writing => {
                    session.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Waits for room in the full mailboxes of this connection's last publishes. Its own
    /// mailbox cannot drain while it waits, so those deliveries go to the session directly.
    async fn wait_for_room(&mut self, session: &mut Connection, authorizer: &ConnectionAuthorizer) {
        let busy = std::mem::take(&mut self.busy);
        let (own, others): (Vec<Busy>, Vec<Busy>) =
            busy.into_iter().partition(|b| b.session == self.key);
        let now = Instant::now();
        for b in own {
            session.handle_delivery(now, b.delivery, authorizer);
        }
        let router = &self.core.router;
        crate::router::wait_for_room(&router.counters, &router.metrics, others).await;
    }

    /// Runs a fleet-provisioning request in the background; its answer comes back through this
    /// connection's own mailbox, on `…/accepted` or `…/rejected`, if the client subscribed to it
    /// (at the QoS it subscribed with), as AWS answers only the requesting connection.
    fn start_fleet_request(&self, session: &Connection, request: FleetRequest, payload: Bytes) {
        let granted = |topic: &str| -> Option<QoS> {
            let name = roost_codec::TopicName::new(topic).ok()?;
            session
                .session()
                .subscriptions()
                .filter(|(filter, _)| filter.group().is_none() && filter.filter().matches(&name))
                .map(|(_, stored)| stored.entry.qos)
                .max()
        };
        let accepted_qos = granted(&request.accepted_topic());
        let rejected_qos = granted(&request.rejected_topic());
        let requester = Requester {
            client_id: self.client_id.clone(),
            certificate_id: self.certificate_id.clone(),
        };
        let core = self.core.clone();
        let mailbox = self.own_mailbox.clone();
        tokio::spawn(async move {
            let (topic, qos, body) = match core
                .handle_fleet_request(&request, &payload, &requester)
                .await
            {
                Ok(answer) => (request.accepted_topic(), accepted_qos, answer),
                Err(rejection) => {
                    tracing::info!(
                        topic = %request.topic,
                        code = rejection.error_code,
                        message = %rejection.error_message,
                        "fleet provisioning request rejected"
                    );
                    (request.rejected_topic(), rejected_qos, rejection.to_json())
                }
            };
            let Some(qos) = qos else {
                tracing::debug!(%topic, "the requester is not subscribed to the answer; dropped");
                return;
            };
            if let Some(message) = event_message(&topic, &body) {
                let delivery = Delivery {
                    qos: qos.min(message.qos),
                    retain: false,
                    subscription_ids: Vec::new(),
                    message,
                };
                let _ = mailbox.send(delivery).await;
            }
        });
    }

    /// Acts on what the session asks of the router.
    fn process_events(&mut self, session: &mut Connection, authorizer: &ConnectionAuthorizer) {
        while let Some(event) = session.poll_event() {
            match event {
                Event::Publish(message) => {
                    self.core.metrics.messages_received.increment(1);
                    if let Some(request) = FleetRequest::parse(message.topic.as_str()) {
                        self.start_fleet_request(session, request, message.payload);
                        continue;
                    }
                    self.core.router.route(
                        &message,
                        Some(self.key),
                        &mut self.scratch,
                        &mut self.busy,
                        Instant::now(),
                    );
                }
                Event::Subscribed(list) => {
                    let now = Instant::now();
                    let mut topics = Vec::with_capacity(list.len());
                    for sub in list {
                        self.core.router.subscribe(self.key, &sub.filter, sub.entry);
                        topics.push(filter_text(&sub.filter));
                        if sub.send_retained {
                            for message in
                                self.core.router.retained_matching(sub.filter.filter(), now)
                            {
                                let delivery =
                                    Delivery::retained(message, sub.entry.qos, sub.entry.id);
                                session.handle_delivery(now, delivery, authorizer);
                            }
                        }
                    }
                    if lifecycle::has_events(&self.client_id) {
                        self.core.publish_event(lifecycle::subscriptions(
                            &self.source,
                            true,
                            &topics,
                        ));
                    }
                }
                Event::Unsubscribed(list) => {
                    let mut topics = Vec::with_capacity(list.len());
                    for filter in list {
                        self.core.router.unsubscribe(self.key, &filter);
                        topics.push(filter_text(&filter));
                    }
                    if lifecycle::has_events(&self.client_id) {
                        self.core.publish_event(lifecycle::subscriptions(
                            &self.source,
                            false,
                            &topics,
                        ));
                    }
                }
                Event::WillCleared => {}
                Event::Disconnect { reason } => {
                    tracing::trace!(?reason, "session closing");
                }
            }
        }
    }

    /// Encodes everything the session has to send into the output buffer.
    fn encode(&mut self, session: &mut Connection) {
        while let Some(packet) = session.poll_transmit() {
            if self.wbuf.capacity() == 0 {
                self.wbuf.reserve(WRITE_BUFFER);
            }
            if matches!(packet, Packet::Publish(_)) {
                self.core.metrics.messages_sent.increment(1);
            }
            if let Err(error) = roost_codec::encode(&packet, self.version, &mut self.wbuf) {
                tracing::warn!(%error, "a packet could not be encoded; dropped");
            }
        }
    }

    /// Whether output is waiting for the socket.
    fn writing(&self) -> bool {
        !self.wbuf.is_empty() || self.unflushed
    }

    /// Writes and flushes all pending output.
    async fn drain<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> std::io::Result<()> {
        while self.writing() {
            push_output(writer, &mut self.wbuf, &mut self.unflushed).await?;
        }
        Ok(())
    }
}

/// What the output buffer starts with when there is something to send.
const WRITE_BUFFER: usize = 4096;

/// One step of output: writes what the socket accepts of `wbuf`, or flushes once it is all
/// written. Cancel-safe (a cancelled step has written nothing it did not account for), so it can
/// race orders from outside in a `select!`.
async fn push_output<W: AsyncWrite + Unpin>(
    writer: &mut W,
    wbuf: &mut BytesMut,
    unflushed: &mut bool,
) -> std::io::Result<()> {
    if wbuf.is_empty() {
        writer.flush().await?;
        *unflushed = false;
        return Ok(());
    }
    let written = writer.write(wbuf).await?;
    if written == 0 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    bytes::Buf::advance(wbuf, written);
    if wbuf.is_empty() {
        // Give the buffer back while the connection has nothing to send: most held
        // connections are idle, and 4 KiB each adds up (the allocator recycles it cheaply).
        *wbuf = BytesMut::new();
    }
    *unflushed = true;
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// A lifecycle or registry event as a message from Roost itself.
pub fn event_message(topic: &str, body: &serde_json::Value) -> Option<Message> {
    let topic = roost_codec::TopicName::new(topic).ok()?;
    let payload = Bytes::from(serde_json::to_vec(body).ok()?);
    Some(Message::new(
        topic,
        payload,
        QoS::AtLeastOnce,
        false,
        PublishProperties::default(),
        Instant::now(),
    ))
}

/// A will to publish now.
pub fn will_message(will: &PendingWill) -> Message {
    will.message(Instant::now())
}
