//! One client connection: a thin tokio driver around the sans-IO [`roost_mqtt::Connection`].
//!
//! [`serve`] reads the CONNECT, runs [`crate::admission`], takes the client id's session in
//! the router and starts the session machine; the [`Driver`] then only runs the packet loop:
//! it reads and decodes packets, feeds them and the deliveries from its mailbox to the session
//! machine, routes what the session publishes, writes what it transmits, and keeps its timers.
//! At the end the session goes back to the router and the will is published if it may be.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use roost_codec::{
    ConnAck, Connect, DecodeError, Packet, PacketId, ProtocolVersion, PublishProperties, QoS,
    ReasonCode,
};
use roost_mqtt::{
    Authorizer as _, Connection, Delivery, Event, MatchSet, Message, PendingWill, SessionKey,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::BrokerCore;
pub use crate::admission::PeerIdentity;
use crate::admission::{AdmissionRefusal, Admitted, admit_connection};
use crate::authorization::{ConnectionAuthorizer, filter_text};
use crate::connections::Receipt;
use crate::fleet::{FleetRequest, Requester};
use crate::grants::{GrantSubject, Grants, resolve_grants};
use crate::identity::principal::Principal;
use crate::lifecycle::{self, DisconnectReason, EventSource};
use crate::retained;
use crate::router::{Busy, Control, Mailbox, Posted};
use crate::shadow::ShadowRequest;

/// Most deliveries taken from the mailbox before the socket is written.
const DELIVERY_BATCH: usize = 64;
/// How long the last packets (a DISCONNECT) may take to flush when a connection closes. Kept
/// short: a peer that does not read must not delay a revocation or a takeover.
const CLOSING_FLUSH: Duration = Duration::from_millis(500);

/// Why a connection ended, from the reason the session machine closed it with.
fn disconnect_reason(reason: ReasonCode) -> DisconnectReason {
    match reason {
        ReasonCode::Success | ReasonCode::DisconnectWithWillMessage => {
            DisconnectReason::ClientInitiated
        }
        ReasonCode::KeepAliveTimeout => DisconnectReason::KeepAliveTimeout,
        ReasonCode::SessionTakenOver => DisconnectReason::DuplicateClientId,
        ReasonCode::NotAuthorized => DisconnectReason::AuthError,
        ReasonCode::ServerShuttingDown | ReasonCode::AdministrativeAction => {
            DisconnectReason::ServerInitiated
        }
        _ => DisconnectReason::ClientError,
    }
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

/// The CONNECT, if one arrives in time and decodes; anything else ends the connection quietly.
async fn receive_connect<R: AsyncRead + Unpin>(
    core: &BrokerCore,
    reader: &mut R,
    buf: &mut BytesMut,
) -> Option<Connect> {
    let max_packet = core.settings.maximum_packet_size;
    match tokio::time::timeout(
        core.config.connect_timeout,
        read_connect(reader, buf, max_packet),
    )
    .await
    {
        Ok(Ok(connect)) => connect,
        Ok(Err(error)) => {
            tracing::debug!(%error, "malformed CONNECT");
            None
        }
        Err(_) => {
            tracing::debug!("no CONNECT in time");
            None
        }
    }
}

/// Writes one packet outside the session machine (a refusing CONNACK) and closes.
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

/// Serves one connection from its first byte to its close, in its own span.
///
/// Not an `async fn`: the stream is split before the connection's future is made, so the
/// future does not keep a second place for it (a TLS stream is over a KiB) for its whole life.
/// The connection's future is most of what a held connection costs; keep what it holds
/// across `.await` small, and box what is large and short-lived.
pub fn serve<S>(
    core: Arc<BrokerCore>,
    stream: S,
    peer: SocketAddr,
    identity: PeerIdentity,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let span = tracing::info_span!(
        "mqtt",
        %peer,
        client_id = tracing::field::Empty,
        certificate = tracing::field::Empty
    );
    let (reader, writer) = tokio::io::split(stream);
    let io = Io {
        reader,
        writer,
        rbuf: BytesMut::with_capacity(READ_SIZE_MIN),
        read_size: READ_SIZE_MIN,
    };
    serve_in_span(core, io, peer, identity).instrument(span)
}

/// The connection's I/O: the two halves of its stream and the bytes read but not decoded.
struct Io<S> {
    reader: ReadHalf<S>,
    writer: WriteHalf<S>,
    rbuf: BytesMut,
    /// Room made in `rbuf` before each read: it doubles while reads fill it and halves while
    /// they use a quarter of it, between [`READ_SIZE_MIN`] and [`READ_SIZE_MAX`].
    read_size: usize,
}

/// A held connection that sends little keeps a read buffer this small (most of the memory a
/// held connection costs is buffers and its task; a 4 KiB buffer was a tenth of it).
const READ_SIZE_MIN: usize = 512;
/// A connection streaming publishes reads up to this much per call. Not more: a publisher
/// fanned out to 1,000 subscribers delivered 5 times less with reads of up to 64 KiB, each
/// read's publishes arriving at the subscribers' bounded mailboxes in one burst.
const READ_SIZE_MAX: usize = 4096;

impl<S> Io<S> {
    /// Makes room for the next read.
    fn prepare_read(&mut self) {
        if self.rbuf.capacity() - self.rbuf.len() < self.read_size {
            self.rbuf.reserve(self.read_size);
        }
    }

    /// Adapts the read size to a read of `read` bytes into `room` bytes of room, and gives
    /// back a large buffer once everything in it has been decoded.
    fn after_read(&mut self, read: usize, room: usize) {
        if read == room {
            self.read_size = (self.read_size * 2).min(READ_SIZE_MAX);
        } else if read < self.read_size / 4 {
            self.read_size = (self.read_size / 2).max(READ_SIZE_MIN);
        }
    }

    /// Called once the bytes read are decoded: an empty buffer much larger than the read
    /// size is dropped (payloads sliced from it keep their bytes), so an idle connection
    /// holds only a small one.
    fn after_decode(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 2 * self.read_size {
            self.rbuf = BytesMut::new();
        }
    }
}

async fn serve_in_span<S>(
    core: Arc<BrokerCore>,
    mut io: Io<S>,
    peer: SocketAddr,
    identity: PeerIdentity,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // Boxed: receiving the CONNECT and admission are large and short-lived; held inline they
    // would enlarge every connection's task for its whole life (RSS per connection).
    let Some((admitted, source, version)) =
        Box::pin(receive_and_admit(&core, &mut io, peer, identity)).await
    else {
        return;
    };
    match admitted {
        Ok(admitted) => run_session(core, admitted, io, peer, source).await,
        Err(refusal) => Box::pin(refuse(&core, &refusal, &source, &mut io.writer, version)).await,
    }
}

/// Reads the CONNECT and runs it through the admission pipeline; `None` when no CONNECT came.
async fn receive_and_admit<S>(
    core: &Arc<BrokerCore>,
    io: &mut Io<S>,
    peer: SocketAddr,
    identity: PeerIdentity,
) -> Option<(
    Result<Box<Admitted>, AdmissionRefusal>,
    EventSource,
    ProtocolVersion,
)>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let connect = receive_connect(core, &mut io.reader, &mut io.rbuf).await?;
    let version = connect.protocol_version;
    let client_id = if connect.client_id.is_empty() {
        format!("roost-{}", uuid::Uuid::new_v4().simple())
    } else {
        connect.client_id.clone()
    };
    tracing::Span::current().record("client_id", client_id.as_str());
    let mut source = EventSource {
        client_id,
        thing_name: None,
        session_identifier: uuid::Uuid::new_v4().to_string(),
        principal_identifier: String::new(),
        ip_address: peer.ip().to_string(),
        version_number: core.next_connection_id(),
    };
    let admitted = admit_connection(core, connect, identity, peer, &mut source)
        .await
        .map(Box::new);
    Some((admitted, source, version))
}

/// Tells a refused client why, once: the log line, the `connect_failed` event, the CONNACK.
async fn refuse<W: AsyncWrite + Unpin>(
    core: &BrokerCore,
    refusal: &AdmissionRefusal,
    source: &EventSource,
    writer: &mut W,
    version: ProtocolVersion,
) {
    refusal.log();
    if lifecycle::has_events(&source.client_id) {
        core.publish_event(lifecycle::connect_failed(source, refusal.connect_failure()));
    }
    write_packet(writer, &refusal.connack(version), version).await;
}

/// An admitted connection: takes its client id's session (over), runs the packet loop, and
/// hands the session back at the end.
async fn run_session<S>(
    core: Arc<BrokerCore>,
    admitted: Box<Admitted>,
    mut io: Io<S>,
    peer: SocketAddr,
    source: EventSource,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Admitted {
        connect,
        client_id,
        principal,
        access_key,
        mut grants,
        read_after,
        connect_attributes,
    } = *admitted;
    let version = connect.protocol_version;
    let connection_id = source.version_number;
    let TakenSession {
        key,
        session,
        mut mailbox,
        mut control,
        control_tx,
        own_mailbox,
        stalled,
        stored,
    } = Box::pin(take_session(
        &core,
        connect,
        &client_id,
        connection_id,
        &grants,
    ))
    .await;
    let mut session = match session {
        Ok(session) => session,
        Err(connack) => {
            write_packet(&mut io.writer, &Packet::ConnAck(connack), version).await;
            return;
        }
    };
    enroll(
        &core,
        connection_id,
        &grants,
        read_after,
        &control_tx,
        principal.as_ref(),
    );
    core.connections_gauge(1);
    tracing::debug!(
        ?version,
        session_present = session.session_present(),
        "connected"
    );
    if lifecycle::has_events(&client_id) {
        core.publish_event(lifecycle::connected(&source));
    }

    let origin = Arc::new(crate::rules::Origin {
        client_id: Some(client_id.clone()),
        principal: principal
            .as_ref()
            .map(|p| p.certificate_id.clone())
            .or_else(|| access_key.clone()),
        source_ip: Some(peer.ip().to_string()),
    });
    let mut driver = Driver {
        origin,
        core: core.clone(),
        connection_id,
        key,
        client_id,
        version,
        wbuf: BytesMut::new(),
        unflushed: false,
        output_stalled: false,
        scratch: MatchSet::new(),
        source,
        lifecycle: None,
        takeover_done: None,
        client_disconnected: false,
        own_mailbox,
        stalled,
        busy: Vec::new(),
        unforwarded: Vec::new(),
        shadow_requests: Vec::new(),
        retained_writes: Vec::new(),
        session_writes: SessionWrites {
            stored,
            ..SessionWrites::default()
        },
        connected_since_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        principal,
        access_key,
        peer,
        connect_attributes,
        awaited_acks: Vec::new(),
    };
    let mut inbox = Inbox {
        mailbox: &mut mailbox,
        control: &mut control,
    };
    let result = driver
        .run(&mut session, &mut grants, &mut io, &mut inbox)
        .await;
    if let Err(error) = result {
        tracing::debug!(%error, "connection I/O ended");
    }
    Box::pin(tear_down(driver, session, io, mailbox, &grants)).await;
}

/// What taking a client id's session gives the connection.
struct TakenSession {
    key: SessionKey,
    /// The session machine, or the CONNACK refusing it.
    session: Result<Connection, Box<ConnAck>>,
    mailbox: mpsc::Receiver<Posted>,
    control: mpsc::UnboundedReceiver<Control>,
    control_tx: mpsc::UnboundedSender<Control>,
    /// Answers of Roost's device services (fleet provisioning) go to this connection only.
    own_mailbox: mpsc::Sender<Posted>,
    stalled: Arc<AtomicBool>,
    /// The registry holds a copy of this session.
    stored: bool,
}

/// Takes the client id's session (over) in the router and starts the session machine on it.
/// The CONNECT was validated at admission, so the machine accepts it; taking over comes only
/// now, after every check.
async fn take_session(
    core: &BrokerCore,
    connect: Connect,
    client_id: &str,
    connection_id: u64,
    grants: &Grants,
) -> TakenSession {
    let (mailbox_tx, mailbox) = mpsc::channel::<Posted>(core.config.mailbox_capacity);
    let stalled = Arc::new(AtomicBool::new(false));
    let own_mailbox = mailbox_tx.clone();
    let (control_tx, control) = mpsc::unbounded_channel::<Control>();
    let cluster = core.router.interconnect();
    if let Some(cluster) = cluster
        && !core.router.holds(client_id)
    {
        if !connect.clean_start {
            cluster.claim_session(client_id).await;
            if core.config.durable_sessions {
                core.adopt_stored_session(client_id).await;
            }
        } else if core.config.durable_sessions
            && matches!(core.registry.session_holder(client_id).await, Ok(Some(_)))
        {
            // A session a dead node left in the registry ends here; a live holder ends its
            // own when it hears the announcement below. Looked up first (a read) so that the
            // common clean connect adds no write to the registry's one writer.
            if let Err(error) = core.registry.delete_session(client_id).await {
                tracing::error!(%error, "deleting the stored session failed");
            }
        }
    }
    let attachment = core
        .router
        .attach(
            client_id,
            connection_id,
            control_tx.clone(),
            Mailbox {
                sender: mailbox_tx,
                stalled: stalled.clone(),
            },
            connect.clean_start,
        )
        .await;
    if let Some(cluster) = cluster {
        cluster.session_taken(client_id, connect.clean_start);
    }
    let key = attachment.key;
    let durable = core.config.durable_sessions;
    if attachment.ended_stored
        && let Err(error) = core.registry.delete_session(client_id).await
    {
        tracing::error!(%error, "deleting the stored session failed");
    }
    let mut resumed = attachment.resumed;
    if durable && resumed.is_some() {
        // Its expiry clock stops while it is connected; ordered before any later write of
        // this session only loosely, which at worst lengthens its expiry after a restart.
        let registry = core.registry.clone();
        let id = client_id.to_owned();
        tokio::spawn(async move {
            if let Err(error) = registry.session_connected(&id).await {
                tracing::warn!(%error, "marking the stored session connected failed");
            }
        });
    }
    let stored = durable && resumed.is_some();
    if let Some(stored) = resumed.as_mut() {
        // Messages queued while the client was away meet the policies in force now.
        let refused = stored.retain_queued(|d| grants.authorizer.receive(&d.message.topic));
        if refused > 0 {
            tracing::debug!(refused, "queued messages no longer allowed by iot:Receive");
        }
    }
    let now = Instant::now();
    let assigned = client_id.to_owned();
    let session = match Connection::accept(now, connect, &core.settings, resumed, move || assigned)
    {
        Ok(session) => {
            if !session.session_present() {
                core.router.forget_subscriptions(key);
            }
            Ok(session)
        }
        Err(refused) => {
            // Unreachable while admission validates with the same settings; kept so that a
            // divergence refuses cleanly instead of losing the session.
            let session = refused.resumed.unwrap_or_else(|| {
                roost_mqtt::SessionState::new(roost_mqtt::ClientId::new(client_id))
            });
            core.router
                .detach(client_id, connection_id, key, session, now);
            tracing::warn!(reason = ?refused.connack.reason_code, "CONNECT refused by the session machine after admission");
            Err(Box::new(refused.connack))
        }
    };
    TakenSession {
        key,
        session,
        mailbox,
        control,
        control_tx,
        own_mailbox,
        stalled,
        stored,
    }
}

/// Makes the connection reachable by enforcement, and catches a change that came while it was
/// being admitted.
fn enroll(
    core: &BrokerCore,
    connection_id: u64,
    grants: &Grants,
    read_after: u64,
    control_tx: &mpsc::UnboundedSender<Control>,
    principal: Option<&Principal>,
) {
    core.index.insert(
        connection_id,
        grants.dependencies.clone(),
        read_after,
        control_tx.clone(),
    );
    // Enforcement updates the trust view before it closes indexed connections, and records a
    // refresh when it sends one: a revocation or policy change that came while this
    // connection was being admitted (its policies read, a takeover awaited) shows here. A
    // certificate provisioned just now may not be in the view yet (the registry's change
    // events are its only writer); any later change to it reaches the index.
    if let Some(principal) = principal
        && principal.claim_template.is_none()
        && core
            .trust
            .certificate(&principal.certificate_id)
            .is_some_and(|c| c.status != roost_registry::model::CertificateStatus::Active)
    {
        let _ = control_tx.send(Control::Close {
            reason: ReasonCode::AdministrativeAction,
            lifecycle: DisconnectReason::CertificateCutOff,
            done: None,
        });
    } else if core.index.missed_refresh(read_after, &grants.dependencies) {
        let _ = control_tx.send(Control::RefreshPolicy);
    }
}

/// Ends a connection: flushes what is left (unless the peer stopped reading), hands the
/// session back to the router (and the registry), lets a connection taking over in, and
/// publishes the will and the disconnect event.
async fn tear_down<S>(
    mut driver: Driver,
    mut session: Connection,
    mut io: Io<S>,
    mut mailbox: mpsc::Receiver<Posted>,
    grants: &Grants,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    if !driver.output_stalled {
        let _ = tokio::time::timeout(CLOSING_FLUSH, async {
            driver.encode(&mut session);
            driver.drain(&mut io.writer).await?;
            io.writer.shutdown().await
        })
        .await;
    }
    let reason = driver.lifecycle.unwrap_or_else(|| {
        session
            .closed()
            .map(disconnect_reason)
            .unwrap_or(DisconnectReason::ConnectionLost)
    });
    let core = driver.core.clone();
    let (client_id, connection_id, key) = (&driver.client_id, driver.connection_id, driver.key);
    let ended_at = Instant::now();
    let ended = session.into_session_state();
    let persistent = ended.session.is_persistent();
    mailbox.close();
    let mut leftover = Vec::new();
    while let Ok(delivery) = mailbox.try_recv() {
        leftover.push(*delivery);
    }
    core.router
        .detach(client_id, connection_id, key, ended.session, ended_at);
    core.router.deliver_offline(key, leftover, ended_at);
    if core.config.durable_sessions {
        // Before a connection taking over is let in: it finds the stored session complete.
        Box::pin(store_ended_session(
            &core,
            client_id,
            key,
            persistent,
            driver.session_writes.stored,
        ))
        .await;
    }
    core.index.remove(connection_id);
    core.connections_gauge(-1);
    if let Some(done) = driver.takeover_done.take() {
        let _ = done.send(());
    }
    if let Some(will) = ended.will {
        let subject = WillSubject {
            principal: driver.principal.clone(),
            access_key: driver.access_key.clone(),
            client_id: client_id.clone(),
            peer: driver.peer,
            connect_attributes: driver.connect_attributes.clone(),
        };
        publish_will(&core, subject, key, will, reason, &grants.authorizer);
    }
    tracing::debug!(reason = reason.as_str(), "disconnected");
    if lifecycle::has_events(client_id) {
        core.publish_event(lifecycle::disconnected(&driver.source, reason));
    }
}

/// Writes what is left of a connection's session to the registry: a persistent one whole (what
/// it owes its client, when it went away), a stored one that ended is deleted.
async fn store_ended_session(
    core: &BrokerCore,
    client_id: &str,
    key: SessionKey,
    persistent: bool,
    stored: bool,
) {
    let written = match persistent.then(|| core.router.snapshot(key)).flatten() {
        Some(snapshot) => {
            core.registry
                .replace_session(snapshot.session, snapshot.messages, snapshot.below)
                .await
        }
        None if stored => core.registry.delete_session(client_id).await,
        None => Ok(()),
    };
    if let Err(error) = written {
        tracing::error!(%error, "storing the session of a disconnected client failed");
    }
}

/// Publishes (or schedules) the will of a connection that ended for `reason`, unless the
/// reason forbids it — a client's DISCONNECT, a certificate cut off by revocation — or the
/// connection's policies, as they stand now, no longer allow it.
fn publish_will(
    core: &Arc<BrokerCore>,
    subject: WillSubject,
    key: SessionKey,
    will: PendingWill,
    reason: DisconnectReason,
    authorizer: &ConnectionAuthorizer,
) {
    if !reason.publishes_will() {
        tracing::debug!(reason = reason.as_str(), "the will is not published");
        return;
    }
    let message = &will.will;
    if !authorizer.will(message.topic.as_str(), message.retain) {
        tracing::info!(topic = %message.topic.as_str(), "the will is no longer allowed by the connection's policies; not published");
        return;
    }
    core.schedule_will(subject, key, will);
}

/// Who a will speaks for, kept to authorize a delayed will again when its delay ends.
pub(crate) struct WillSubject {
    pub(crate) principal: Option<Principal>,
    pub(crate) access_key: Option<String>,
    pub(crate) client_id: String,
    pub(crate) peer: SocketAddr,
    pub(crate) connect_attributes: Vec<String>,
}

impl WillSubject {
    /// Whether the will may still be published: the certificate is still ACTIVE and the
    /// policies that apply to it now allow publishing on the will's topic.
    pub(crate) async fn still_allows(&self, core: &BrokerCore, will: &PendingWill) -> bool {
        if let Some(principal) = &self.principal
            && principal.claim_template.is_none()
            && core
                .trust
                .certificate(&principal.certificate_id)
                .is_none_or(|trust| {
                    trust.status != roost_registry::model::CertificateStatus::Active
                })
        {
            return false;
        }
        let subject = GrantSubject {
            principal: self.principal.as_ref(),
            access_key: self.access_key.as_deref(),
            client_id: &self.client_id,
            peer: self.peer,
            connect_attributes: &self.connect_attributes,
        };
        match resolve_grants(core, subject, None).await {
            Ok(grants) => grants
                .authorizer
                .will(will.will.topic.as_str(), will.will.retain),
            Err(error) => {
                tracing::error!(%error, "re-reading the policies of a delayed will failed; not published");
                false
            }
        }
    }
}

/// Where the packet loop's orders and deliveries come from.
struct Inbox<'a> {
    mailbox: &'a mut mpsc::Receiver<Posted>,
    control: &'a mut mpsc::UnboundedReceiver<Control>,
}

/// Durable session state to write before the acknowledgements that depend on it.
#[derive(Default)]
struct SessionWrites {
    /// Deliveries this connection's publishes queued for offline sessions.
    owed: Vec<roost_registry::SessionMessageRecord>,
    /// This persistent session's subscriptions changed.
    subscriptions_changed: bool,
    /// Numbers of durable deliveries this client acknowledged.
    acknowledged: Vec<u64>,
    /// The registry holds a copy of this session.
    stored: bool,
}

impl SessionWrites {
    fn is_pending(&self) -> bool {
        !self.owed.is_empty() || self.subscriptions_changed || !self.acknowledged.is_empty()
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
    lifecycle: Option<DisconnectReason>,
    takeover_done: Option<oneshot::Sender<()>>,
    client_disconnected: bool,
    own_mailbox: mpsc::Sender<Posted>,
    /// This connection's mailbox was marked stalled by a publisher (see `router`).
    stalled: Arc<AtomicBool>,
    /// Deliveries of this connection's publishes whose mailboxes were full.
    busy: Vec<Busy>,
    /// In a cluster: messages published here that the way to the other nodes had no room for
    /// yet; the publisher waits for it as for a full mailbox.
    unforwarded: Vec<Message>,
    /// Shadow requests published since the last turn of the loop.
    shadow_requests: Vec<ShadowRequest>,
    /// Changes to the retained store made since the last turn of the loop, to write.
    retained_writes: Vec<(Message, roost_mqtt::RetainOutcome)>,
    /// Writes of durable session state made since the last turn of the loop.
    session_writes: SessionWrites,
    /// Who publishes, as the rules engine's `clientid()`, `principal()` and `sourceip()`.
    origin: Arc<crate::rules::Origin>,
    /// When the connection was accepted, epoch milliseconds.
    connected_since_ms: i64,
    /// Who is connected, for re-reading its policies when they change.
    principal: Option<Principal>,
    /// The access key of a signed WebSocket connection, likewise.
    access_key: Option<String>,
    peer: SocketAddr,
    connect_attributes: Vec<String>,
    /// Direct messages whose senders wait for the client's PUBACK.
    awaited_acks: Vec<AwaitedAck>,
}

/// A direct message whose sender waits for the client to acknowledge it.
struct AwaitedAck {
    message: Message,
    receipt: oneshot::Sender<Receipt>,
}

impl AwaitedAck {
    /// Whether `message` is this very message (the session's inflight copy of it), not
    /// merely an equal one.
    fn is_for(&self, message: &Message) -> bool {
        self.message.is_same(message)
    }
}

impl Driver {
    /// The packet loop, until the connection ends.
    async fn run<S: AsyncRead + AsyncWrite>(
        &mut self,
        session: &mut Connection,
        grants: &mut Grants,
        io: &mut Io<S>,
        inbox: &mut Inbox<'_>,
    ) -> std::io::Result<()> {
        let Inbox { mailbox, control } = inbox;
        let max_packet = self.core.settings.maximum_packet_size;
        let write_timeout = self.core.config.write_timeout;
        // When the socket last accepted bytes (or output began waiting).
        let mut progress_at = Instant::now();
        // The session's next deadline (keep-alive, expiries), one timer for the connection's
        // life, moved only when the deadline moves: a timer made anew for each wait would be
        // registered and removed on every wake-up, which a subscriber in a fan-out pays per
        // delivery.
        let session_timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(session_timer);
        let mut armed_at: Option<Instant> = None;
        loop {
            self.process_events(session, &grants.authorizer);
            // This connection's shadow requests are answered in the order it sent them; it
            // reads nothing more meanwhile, which paces a device to its shadow's commits.
            for request in std::mem::take(&mut self.shadow_requests) {
                Box::pin(self.core.serve_shadow_request(request)).await;
            }
            // Retained publishes are durable before their PUBACK, which is encoded below.
            for (message, outcome) in std::mem::take(&mut self.retained_writes) {
                let stored = Box::pin(retained::persist(&self.core.registry, &message, outcome));
                if let Err(error) = stored.await {
                    tracing::error!(%error, "storing a retained message failed");
                }
            }
            // So are messages queued for offline sessions, and a SUBACK's subscriptions.
            if self.session_writes.is_pending() {
                Box::pin(self.write_session_state(session)).await;
            }
            if !self.busy.is_empty() {
                // Slow this publisher to its subscribers' pace rather than drop their messages.
                self.wait_for_room(session, &grants.authorizer).await;
            }
            if !self.unforwarded.is_empty()
                && let Some(interconnect) = self.core.router.interconnect()
            {
                for message in std::mem::take(&mut self.unforwarded) {
                    interconnect.forward_when_room(message).await;
                }
            }
            let idle = !self.writing();
            self.encode(session);
            if idle && self.writing() {
                progress_at = Instant::now();
            }
            if session.closed().is_some() {
                if tokio::time::timeout(CLOSING_FLUSH, self.drain(&mut io.writer))
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
            if let Some(at) = deadline
                && armed_at != Some(at)
            {
                session_timer.as_mut().reset(at.into());
                armed_at = Some(at);
            }
            let room = if writing {
                0
            } else {
                io.prepare_read();
                io.rbuf.capacity() - io.rbuf.len()
            };
            tokio::select! {
                biased;
                order = control.recv() => match order {
                    Some(Control::Close { reason, lifecycle, done }) => {
                        self.lifecycle = Some(lifecycle);
                        self.takeover_done = done;
                        session.close(reason);
                    }
                    Some(Control::RefreshPolicy) => self.refresh_policy(session, grants).await,
                    Some(Control::Describe(reply)) => {
                        let _ = reply.send(self.describe(session));
                    }
                    Some(Control::Direct { delivery, receipt }) => {
                        self.deliver_direct(session, *delivery, receipt, &grants.authorizer);
                    }
                    None => return Ok(()),
                },
                written = push_output(&mut io.writer, &mut self.wbuf, &mut self.unflushed), if writing => {
                    written?;
                    progress_at = Instant::now();
                }
                () = tokio::time::sleep_until((progress_at + write_timeout).into()), if writing => {
                    tracing::debug!(?write_timeout, "the client accepts no data; closing");
                    self.lifecycle.get_or_insert(DisconnectReason::ConnectionLost);
                    self.output_stalled = true;
                    return Ok(());
                }
                read = io.reader.read_buf(&mut io.rbuf), if !writing => {
                    match read {
                        Ok(0) => {
                            self.lifecycle.get_or_insert(if self.client_disconnected { DisconnectReason::ClientInitiated } else { DisconnectReason::ConnectionLost });
                            return Ok(());
                        }
                        Ok(read) => io.after_read(read, room),
                        Err(error) => {
                            self.lifecycle.get_or_insert(DisconnectReason::ConnectionLost);
                            return Err(error);
                        }
                    }
                    let now = Instant::now();
                    loop {
                        match roost_codec::decode(&mut io.rbuf, self.version, max_packet) {
                            Ok(Some(packet)) => {
                                match &packet {
                                    Packet::Disconnect(_) => self.client_disconnected = true,
                                    Packet::PubAck(ack) => self.note_puback(session, ack.packet_id),
                                    _ => {}
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
                                self.lifecycle = Some(DisconnectReason::ClientError);
                                session.close(error.reason_code());
                                break;
                            }
                        }
                    }
                    io.after_decode();
                }
                // While the session's queue is full (the client is behind on acknowledgements)
                // deliveries wait in the mailbox, and publishers wait for room (see `router`).
                delivery = mailbox.recv(), if !writing && session.accepts_deliveries() => {
                    let now = Instant::now();
                    self.stalled.store(false, Ordering::Relaxed);
                    if let Some(delivery) = delivery {
                        session.handle_delivery(now, *delivery, &grants.authorizer);
                        for _ in 1..DELIVERY_BATCH {
                            if !session.accepts_deliveries() {
                                break;
                            }
                            match mailbox.try_recv() {
                                Ok(delivery) => session.handle_delivery(now, *delivery, &grants.authorizer),
                                Err(_) => break,
                            }
                        }
                    }
                }
                () = &mut session_timer, if !writing && deadline.is_some() => {
                    // Re-armed at the next turn even if the deadline stays where it was.
                    armed_at = None;
                    session.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Writes the durable session state the last events changed (see `durable_sessions`).
    async fn write_session_state(&mut self, session: &Connection) {
        let writes = &mut self.session_writes;
        let registry = &self.core.registry;
        if !writes.owed.is_empty() {
            let owed = std::mem::take(&mut writes.owed);
            if let Err(error) = registry.append_session_messages(owed).await {
                tracing::error!(%error, "storing messages queued for offline sessions failed");
            }
        }
        if std::mem::take(&mut writes.subscriptions_changed) {
            let record = crate::durable_sessions::session_record(session.session(), None);
            match registry.put_session(record).await {
                Ok(()) => writes.stored = true,
                Err(error) => tracing::error!(%error, "storing the session's subscriptions failed"),
            }
        }
        if !writes.acknowledged.is_empty() {
            let done = std::mem::take(&mut writes.acknowledged);
            let registry = registry.clone();
            let client_id = self.client_id.clone();
            tokio::spawn(async move {
                if let Err(error) = registry.delete_session_messages(&client_id, done).await {
                    tracing::warn!(%error, "forgetting acknowledged stored messages failed");
                }
            });
        }
    }

    /// Delivers a direct message (SendDirectMessage); with a `receipt`, its sender is told
    /// when the client acknowledges it, or at once if the connection may not receive it.
    fn deliver_direct(
        &mut self,
        session: &mut Connection,
        delivery: Delivery,
        receipt: Option<oneshot::Sender<Receipt>>,
        authorizer: &ConnectionAuthorizer,
    ) {
        if let Some(receipt) = receipt {
            if authorizer.receive(&delivery.message.topic) {
                // Senders that stopped waiting are forgotten here and as PUBACKs come.
                self.awaited_acks
                    .retain(|awaited| !awaited.receipt.is_closed());
                self.awaited_acks.push(AwaitedAck {
                    message: delivery.message.clone(),
                    receipt,
                });
            } else {
                let _ = receipt.send(Receipt::NotAuthorized);
            }
        }
        session.handle_delivery(Instant::now(), delivery, authorizer);
    }

    /// Tells the sender of a direct message waiting for the PUBACK with `id` that it came.
    /// Called before the session handles the PUBACK, while it still knows which delivery the
    /// packet id stands for.
    fn note_puback(&mut self, session: &Connection, id: PacketId) {
        if self.awaited_acks.is_empty() {
            return;
        }
        let Some(delivery) = session.session().awaiting_puback(id) else {
            return;
        };
        if let Some(at) = self
            .awaited_acks
            .iter()
            .position(|awaited| awaited.is_for(&delivery.message))
        {
            let _ = self
                .awaited_acks
                .swap_remove(at)
                .receipt
                .send(Receipt::Acknowledged);
        }
        self.awaited_acks
            .retain(|awaited| !awaited.receipt.is_closed());
    }

    /// What GetConnection reports of this connection.
    fn describe(&self, session: &Connection) -> crate::connections::ConnectionInfo {
        crate::connections::ConnectionInfo {
            client_id: self.client_id.clone(),
            connected: true,
            thing_name: self.source.thing_name.clone(),
            clean_session: !session.session().is_persistent(),
            keep_alive_secs: session.keep_alive().map(|k| k.as_secs()),
            session_expiry_secs: session.session().expiry_secs(),
            connected_since_ms: Some(self.connected_since_ms),
            source_ip: Some(self.peer.ip().to_string()),
            source_port: Some(self.peer.port()),
            subscriptions: crate::connections::subscriptions_of(session.session()),
            principal: self.origin.principal.clone(),
            protocol: Some(match self.version {
                ProtocolVersion::V3_1 => "MQTT 3.1",
                ProtocolVersion::V3_1_1 => "MQTT 3.1.1",
                ProtocolVersion::V5 => "MQTT 5.0",
            }),
            transport: Some(if self.access_key.is_some() {
                "websocket"
            } else if self.principal.is_some() {
                "mqtts"
            } else {
                "mqtt"
            }),
        }
    }

    /// Re-reads the connection's policies after a registry change; closes it if they no
    /// longer allow `iot:Connect`.
    async fn refresh_policy(&mut self, session: &mut Connection, grants: &mut Grants) {
        let read_after = self.core.registry.committed();
        let subject = GrantSubject {
            principal: self.principal.as_ref(),
            access_key: self.access_key.as_deref(),
            client_id: &self.client_id,
            peer: self.peer,
            connect_attributes: &self.connect_attributes,
        };
        match Box::pin(resolve_grants(&self.core, subject, None)).await {
            Ok(fresh) if fresh.authorizer.connect(&self.client_id).is_allowed() => {
                self.core
                    .index
                    .update(self.connection_id, fresh.dependencies.clone(), read_after);
                *grants = fresh;
            }
            Ok(fresh) => {
                tracing::info!("policy no longer allows iot:Connect; disconnecting");
                // The will meets the policies in force now.
                *grants = fresh;
                self.lifecycle = Some(DisconnectReason::AuthError);
                session.close(ReasonCode::NotAuthorized);
            }
            Err(error) => tracing::error!(%error, "re-reading the connection's policies failed"),
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
            session.handle_delivery(now, *b.delivery, authorizer);
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
            certificate_id: self.principal.as_ref().map(|p| p.certificate_id.clone()),
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
                    stored: None,
                    message,
                };
                let _ = mailbox.send(Box::new(delivery)).await;
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
                        self.start_fleet_request(session, request, message.payload.clone());
                        continue;
                    }
                    // Basic Ingest: to that rule only, never to subscribers.
                    if let Some((rule, rest)) = roost_rules::basic_ingest(message.topic.as_str()) {
                        self.core.rules.ingest(rule, rest, &message, &self.origin);
                        continue;
                    }
                    self.core
                        .rules
                        .offer(&message, &self.origin, &mut self.scratch);
                    // A shadow request is served after this batch of events (in order, by
                    // this connection) and routed like any message meanwhile.
                    if let Some(request) =
                        ShadowRequest::parse(message.topic.as_str(), &message.payload)
                    {
                        self.shadow_requests.push(request);
                    }
                    let routed = self.core.router.route_behind(
                        &message,
                        Some(self.key),
                        &mut self.scratch,
                        &mut self.busy,
                        Instant::now(),
                        !self.unforwarded.is_empty(),
                    );
                    self.session_writes
                        .owed
                        .extend(routed.owed.iter().filter_map(|owed| {
                            crate::durable_sessions::message_record(&owed.client_id, &owed.delivery)
                        }));
                    self.unforwarded.extend(routed.unforwarded);
                    if let Some(outcome) = routed.retained {
                        self.retained_writes.push((message, outcome));
                    }
                }
                Event::Subscribed(list) => {
                    self.note_subscriptions_changed(session);
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
                    self.note_subscriptions_changed(session);
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
                Event::Acknowledged(number) => self.session_writes.acknowledged.push(number),
                Event::WillCleared => {}
                Event::Disconnect { reason } => {
                    tracing::trace!(?reason, "session closing");
                }
            }
        }
    }

    /// Records that a persistent session's subscriptions must be written before its SUBACK or
    /// UNSUBACK.
    fn note_subscriptions_changed(&mut self, session: &Connection) {
        if self.core.config.durable_sessions && session.session().is_persistent() {
            self.session_writes.subscriptions_changed = true;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `make` returns, without calling it.
    fn size_of_output<A, R>(_make: impl FnOnce(A) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// A held connection's task is its largest allocation: it was 11 KiB before the stream was
    /// split outside it and admission, takeover and teardown were boxed.
    #[test]
    fn a_held_connections_task_stays_small() {
        type Stream = tokio::net::TcpStream;
        let task = size_of_output(
            |(core, stream, peer, identity): (
                Arc<BrokerCore>,
                Stream,
                SocketAddr,
                PeerIdentity,
            )| { serve(core, stream, peer, identity) },
        );
        assert!(task <= 6 * 1024, "{task} bytes");
    }

    #[test]
    fn the_read_size_follows_the_reads_and_an_idle_buffer_is_given_back() {
        let (stream, _peer) = tokio::io::duplex(64);
        let (reader, writer) = tokio::io::split(stream);
        let mut io = Io {
            reader,
            writer,
            rbuf: BytesMut::with_capacity(READ_SIZE_MIN),
            read_size: READ_SIZE_MIN,
        };
        for _ in 0..20 {
            io.after_read(io.read_size, io.read_size);
        }
        assert_eq!(io.read_size, READ_SIZE_MAX);
        io.prepare_read();
        assert!(io.rbuf.capacity() >= READ_SIZE_MAX);
        io.after_read(10, READ_SIZE_MAX);
        assert_eq!(io.read_size, READ_SIZE_MAX / 2);
        io.after_read(10, READ_SIZE_MAX);
        io.after_decode();
        assert_eq!(
            io.rbuf.capacity(),
            0,
            "an empty buffer far above the read size goes"
        );
        for _ in 0..20 {
            io.after_read(10, io.read_size);
        }
        assert_eq!(io.read_size, READ_SIZE_MIN);
        io.rbuf.extend_from_slice(b"half a packet");
        io.after_decode();
        assert_eq!(&io.rbuf[..], b"half a packet", "undecoded bytes stay");
    }

    /// Each connection's control channel keeps room for 32 orders from the start.
    #[test]
    fn a_control_order_is_small() {
        assert!(std::mem::size_of::<Control>() <= 48);
    }
}
