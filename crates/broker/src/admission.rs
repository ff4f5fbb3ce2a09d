//! Admission: the one path every connection takes from its CONNECT to the moment it may be
//! attached to the router, whatever its transport (mTLS, the insecure development listener, the
//! ALPN listener, MQTT over a SigV4-signed WebSocket).
//!
//! The steps run in an order that keeps side effects last:
//! 1. the CONNECT against the MQTT rules and the broker's limits ([`validate_connect`]): pure;
//! 2. identity: the verified certificate, its status, its CA's status and validity
//!    ([`crate::identity::principal::admit`]): reads the in-memory trust view only;
//! 3. provisioning, when the certificate is new under an auto-registering CA (JITP, JITR): the
//!    first step that may write, reached only by a valid CONNECT;
//! 4. grants: the principal's policies, bound to the connection ([`crate::grants`]);
//! 5. `iot:Connect` and the will, authorized.
//!
//! The result is an [`Admitted`] connection or an [`AdmissionRefusal`], which maps to one
//! CONNACK reason code, one `connect_failed` reason and one log line. Taking over the client
//! id and starting the session machine follow in [`crate::connection`], after admission.

use std::net::SocketAddr;
use std::sync::Arc;

use roost_codec::{ConnAck, ConnAckProperties, Connect, Packet, ProtocolVersion, ReasonCode};
use roost_mqtt::validate_connect;
use roost_registry::{ProvisionedGrants, RegistryError};
use rustls::pki_types::CertificateDer;

use crate::BrokerCore;
use crate::grants::{GrantSubject, Grants, connect_attributes, resolve_grants};
use crate::identity::principal::{Admission, Principal, Refusal, admit};
use crate::lifecycle::{ConnectFailure, EventSource};

/// How the peer authenticated.
#[derive(Debug)]
pub enum PeerIdentity {
    /// The TLS client certificate chain, leaf first.
    Certificates(Vec<CertificateDer<'static>>),
    /// MQTT over WebSocket: the access key id whose SigV4 signature the upgrade request carried
    /// (checked by the HTTP server before the upgrade). Every configured access key has full
    /// access, as an administrator's IAM identity would.
    AccessKey(String),
    /// The insecure plaintext listener: no identity, its own policy.
    Insecure,
}

/// Why a connection was refused at admission.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionRefusal {
    /// The CONNECT breaks the MQTT rules or the broker's limits; the code says which.
    #[error("the CONNECT is not acceptable ({0:?})")]
    InvalidConnect(ReasonCode),
    /// The certificate may not connect (status, validity, CA, signature algorithm).
    #[error("{refusal}")]
    Identity {
        certificate_id: Option<String>,
        refusal: Refusal,
    },
    /// Provisioning (JITP) or registration (JITR) of a new certificate did not let it in.
    #[error("{refusal}")]
    Provisioning {
        certificate_id: String,
        ca_id: String,
        refusal: Box<crate::ProvisioningRefusal>,
    },
    /// No policy allows `iot:Connect` with this client id.
    #[error("no policy allows iot:Connect for client id {client_id}")]
    ConnectNotAllowed { client_id: String },
    /// No policy allows publishing the will on its topic (with its retain flag).
    #[error("no policy allows publishing the will on {topic}")]
    WillNotAllowed { topic: String },
    /// The registry could not be read.
    #[error("reading the connection's policies failed: {0}")]
    Registry(#[from] RegistryError),
    /// This node takes no new connections now (a cluster node that lost PostgreSQL or NATS).
    #[error("the server is unavailable: {0}")]
    Unavailable(String),
}

impl AdmissionRefusal {
    /// The CONNACK reason code (MQTT 3.1.1 clients get the matching return code).
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::InvalidConnect(code) => *code,
            Self::Registry(_) | Self::Unavailable(_) => ReasonCode::ServerUnavailable,
            Self::Provisioning { refusal, .. } if refusal.is_internal() => {
                ReasonCode::ServerUnavailable
            }
            Self::Identity { .. }
            | Self::Provisioning { .. }
            | Self::ConnectNotAllowed { .. }
            | Self::WillNotAllowed { .. } => ReasonCode::NotAuthorized,
        }
    }

    /// The `connectFailureReason` of the `connect_failed` event.
    pub fn connect_failure(&self) -> ConnectFailure {
        match self {
            Self::InvalidConnect(_) => ConnectFailure::ClientError,
            Self::Registry(_) | Self::Unavailable(_) => ConnectFailure::ServerError,
            Self::Provisioning { refusal, .. } if refusal.is_internal() => {
                ConnectFailure::ServerError
            }
            _ => ConnectFailure::AuthorizationFailed,
        }
    }

    /// The certificate the refused client presented, when known.
    pub fn certificate_id(&self) -> Option<&str> {
        match self {
            Self::Identity { certificate_id, .. } => certificate_id.as_deref(),
            Self::Provisioning { certificate_id, .. } => Some(certificate_id),
            _ => None,
        }
    }

    /// Logs and counts the refusal once: the client's doing at info, ours at error. The
    /// counters (`roost_mqtt_connects_refused_total` by lifecycle reason, and
    /// `roost_provisioning_failures_total` when provisioning failed) feed the console's
    /// overview.
    pub fn log(&self) {
        metrics::counter!(
            "roost_mqtt_connects_refused_total",
            "reason" => self.connect_failure().as_str()
        )
        .increment(1);
        if let Self::Provisioning { refusal, .. } = self
            && matches!(**refusal, crate::ProvisioningRefusal::Failed(_))
        {
            metrics::counter!("roost_provisioning_failures_total").increment(1);
        }
        match self {
            Self::Registry(error) => tracing::error!(%error, "connection refused: registry error"),
            Self::Provisioning {
                certificate_id,
                ca_id,
                refusal,
            } => {
                tracing::info!(certificate = %certificate_id, ca = %ca_id, reason = %refusal, "connection refused")
            }
            other => tracing::info!(
                certificate = other.certificate_id().unwrap_or("-"),
                reason = %other,
                "connection refused"
            ),
        }
    }

    /// The CONNACK that tells the client (with the reason as text for MQTT 5, except for our
    /// own faults, whose details stay in the log).
    pub fn connack(&self, version: ProtocolVersion) -> Packet {
        let mut properties = ConnAckProperties::default();
        if version.is_v5() && !matches!(self, Self::InvalidConnect(_)) {
            properties.reason_string = Some(match self {
                Self::Registry(_) => "internal error".to_owned(),
                other => other.to_string(),
            });
        }
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: self.reason_code(),
            properties,
        }))
    }
}

/// A connection that passed admission, ready to take its session.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) connect: Connect,
    /// The client id, assigned by the broker if the client sent none.
    pub(crate) client_id: String,
    pub(crate) principal: Option<Principal>,
    /// The access key that signed a WebSocket upgrade (no certificate then).
    pub(crate) access_key: Option<String>,
    pub(crate) grants: Grants,
    /// The registry commit the grants reflect (see `ConnectionIndex::missed_refresh`).
    pub(crate) read_after: u64,
    pub(crate) connect_attributes: Vec<String>,
}

/// Who the peer is once its certificate has been looked at (and provisioned if new).
struct Identified {
    principal: Option<Principal>,
    access_key: Option<String>,
    /// What provisioning just attached, when it made all of it.
    provisioned: Option<ProvisionedGrants>,
}

/// Runs the admission steps for `connect` from `peer`. `source` gets the facts lifecycle
/// events need (principal, thing) as they become known, refused or not.
pub(crate) async fn admit_connection(
    core: &Arc<BrokerCore>,
    connect: Connect,
    identity: PeerIdentity,
    peer: SocketAddr,
    source: &mut EventSource,
) -> Result<Admitted, AdmissionRefusal> {
    validate_connect(&connect, &core.settings).map_err(AdmissionRefusal::InvalidConnect)?;
    if let Some(reason) = core.availability.unavailable() {
        return Err(AdmissionRefusal::Unavailable(reason));
    }
    let identified = identify(core, identity).await.inspect_err(|refusal| {
        if let Some(id) = refusal.certificate_id() {
            source.principal_identifier = id.to_owned();
        }
    })?;
    if let Some(principal) = &identified.principal {
        tracing::Span::current().record("certificate", principal.certificate_id.as_str());
        source.principal_identifier = principal.certificate_id.clone();
    }
    if let Some(access_key) = &identified.access_key {
        source.principal_identifier = access_key.clone();
    }

    // Registry changes after the commit the policies reflect that reach the index before the
    // connection does are caught up with once it is indexed.
    let read_after = match &identified.provisioned {
        Some(grants) => grants.as_of_commit,
        None => core.registry.committed(),
    };
    let attributes = connect_attributes(&connect);
    let subject = GrantSubject {
        principal: identified.principal.as_ref(),
        access_key: identified.access_key.as_deref(),
        client_id: &source.client_id,
        peer,
        connect_attributes: &attributes,
    };
    let provisioned = identified
        .provisioned
        .map(|grants| grants.for_client(&source.client_id));
    // Boxed, like the other rare awaits of admission: a future held inline would enlarge every
    // connection's task for its whole life (RSS per connection).
    let grants = Box::pin(resolve_grants(core, subject, provisioned)).await?;
    source.thing_name = grants
        .thing
        .as_ref()
        .filter(|t| t.exclusive)
        .map(|t| t.thing.name.clone());
    authorize(&grants, &source.client_id, &connect)?;
    Ok(Admitted {
        client_id: source.client_id.clone(),
        connect,
        principal: identified.principal,
        access_key: identified.access_key,
        grants,
        read_after,
        connect_attributes: attributes,
    })
}

/// A device admitted over mutual-TLS HTTPS (AWS IoT's port 8443): who it is and what its
/// policies allow, for each of its requests.
#[derive(Debug)]
pub struct HttpsDevice {
    pub principal: Principal,
    grants: Grants,
}

/// A shadow operation a device asks for over HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowAccess {
    Get,
    Update,
    Delete,
}

impl HttpsDevice {
    /// `iot:Publish` (and `iot:RetainPublish` with `retain`) on `topic`.
    pub fn may_publish(&self, topic: &str, retain: bool) -> bool {
        self.grants.authorizer.will(topic, retain)
    }

    /// `iot:GetThingShadow`/`UpdateThingShadow`/`DeleteThingShadow` on `thing/<thing>[/<shadow>]`
    /// (`resource` is that part after `thing/`).
    pub fn may_access_shadow(&self, access: ShadowAccess, resource: &str) -> bool {
        let action = match access {
            ShadowAccess::Get => roost_policy::Action::GetThingShadow,
            ShadowAccess::Update => roost_policy::Action::UpdateThingShadow,
            ShadowAccess::Delete => roost_policy::Action::DeleteThingShadow,
        };
        self.grants.authorizer.thing(action, resource)
    }
}

/// Admits a device that presents `chain` on the mutual-TLS HTTPS listener: the same identity,
/// provisioning (JITP on first use) and grants as an MQTT connection. HTTPS has no client id;
/// the certificate id stands in for it in policy variables.
pub async fn admit_https_device(
    core: &Arc<BrokerCore>,
    chain: Vec<CertificateDer<'static>>,
    peer: SocketAddr,
) -> Result<HttpsDevice, AdmissionRefusal> {
    let identified = identify(core, PeerIdentity::Certificates(chain)).await?;
    let Some(principal) = identified.principal else {
        return Err(AdmissionRefusal::Identity {
            certificate_id: None,
            refusal: Refusal::NoCertificate,
        });
    };
    let client_id = principal.certificate_id.clone();
    let subject = GrantSubject {
        principal: Some(&principal),
        access_key: None,
        client_id: &client_id,
        peer,
        connect_attributes: &[],
    };
    let provisioned = identified
        .provisioned
        .map(|grants| grants.for_client(&client_id));
    let grants = Box::pin(resolve_grants(core, subject, provisioned)).await?;
    Ok(HttpsDevice { principal, grants })
}

/// Identity: the certificate's registry status and CA decide; a new certificate under an
/// auto-registering CA is provisioned (or registered) here.
async fn identify(
    core: &Arc<BrokerCore>,
    identity: PeerIdentity,
) -> Result<Identified, AdmissionRefusal> {
    let chain = match identity {
        PeerIdentity::Insecure => {
            return Ok(Identified {
                principal: None,
                access_key: None,
                provisioned: None,
            });
        }
        PeerIdentity::AccessKey(access_key_id) => {
            return Ok(Identified {
                principal: None,
                access_key: Some(access_key_id),
                provisioned: None,
            });
        }
        PeerIdentity::Certificates(chain) => chain,
    };
    match admit(
        &core.trust,
        &chain,
        crate::unix_now(),
        core.config.admission,
    ) {
        Admission::Admitted(principal) => Ok(Identified {
            principal: Some(principal),
            access_key: None,
            provisioned: None,
        }),
        Admission::Unregistered { certificate, ca } => {
            match Box::pin(core.provision(&certificate, &ca)).await {
                Ok((principal, provisioned)) => Ok(Identified {
                    principal: Some(principal),
                    access_key: None,
                    provisioned,
                }),
                Err(refusal) => Err(AdmissionRefusal::Provisioning {
                    certificate_id: certificate.id.clone(),
                    ca_id: ca.record.id.clone(),
                    refusal: Box::new(refusal),
                }),
            }
        }
        Admission::Refused {
            certificate_id,
            refusal,
        } => Err(AdmissionRefusal::Identity {
            certificate_id,
            refusal,
        }),
    }
}

/// `iot:Connect` for the client id, and the will's topic and retain flag.
fn authorize(grants: &Grants, client_id: &str, connect: &Connect) -> Result<(), AdmissionRefusal> {
    if !grants.authorizer.connect(client_id).is_allowed() {
        return Err(AdmissionRefusal::ConnectNotAllowed {
            client_id: client_id.to_owned(),
        });
    }
    if let Some(will) = &connect.will
        && !grants.authorizer.will(will.topic.as_str(), will.retain)
    {
        return Err(AdmissionRefusal::WillNotAllowed {
            topic: will.topic.as_str().to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_maps_to_one_reason_code_and_one_lifecycle_reason() {
        let invalid = AdmissionRefusal::InvalidConnect(ReasonCode::QoSNotSupported);
        assert_eq!(invalid.reason_code(), ReasonCode::QoSNotSupported);
        assert_eq!(invalid.connect_failure(), ConnectFailure::ClientError);

        let denied = AdmissionRefusal::ConnectNotAllowed {
            client_id: "c1".into(),
        };
        assert_eq!(denied.reason_code(), ReasonCode::NotAuthorized);
        assert_eq!(
            denied.connect_failure(),
            ConnectFailure::AuthorizationFailed
        );
        let Packet::ConnAck(ack) = denied.connack(ProtocolVersion::V5) else {
            panic!("not a CONNACK");
        };
        assert_eq!(
            ack.properties.reason_string.as_deref(),
            Some("no policy allows iot:Connect for client id c1")
        );

        let ours = AdmissionRefusal::Registry(RegistryError::storage("disk full"));
        assert_eq!(ours.reason_code(), ReasonCode::ServerUnavailable);
        assert_eq!(ours.connect_failure(), ConnectFailure::ServerError);
        let Packet::ConnAck(ack) = ours.connack(ProtocolVersion::V5) else {
            panic!("not a CONNACK");
        };
        assert_eq!(
            ack.properties.reason_string.as_deref(),
            Some("internal error"),
            "our own faults are not detailed to the client"
        );
    }
}
