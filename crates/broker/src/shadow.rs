//! The Device Shadow service over MQTT: the broker answers `$aws/things/<thing>/shadow[/name/
//! <shadow>]/{get,update,delete}` itself, as AWS IoT does.
//!
//! A request has already passed `iot:Publish` on its topic (the session machine checks that
//! before the broker sees the message) and is routed to subscribers like any message. The
//! shadow logic is `roost-shadow`; the registry reads, merges and writes each update in one
//! transaction, so `/update/accepted` is published only once the new document is durable.
//! Answers are ordinary messages from Roost: they reach every connection subscribed to them
//! whose policy allows `iot:Receive` (the requester included), and nobody else may publish on
//! them.

use bytes::Bytes;
use roost_codec::QoS;
use roost_shadow::{
    ClientToken, GetOrDeleteRequest, ShadowError, ShadowLimits, ShadowTopic, ShadowTopicKind,
    UpdateRequest, recover_client_token, shadow_topic, to_payload,
};

use crate::BrokerCore;

/// A shadow request taken from a client's PUBLISH.
#[derive(Debug)]
pub(crate) struct ShadowRequest {
    topic: ShadowTopic,
    payload: Bytes,
}

impl ShadowRequest {
    /// The request a PUBLISH on `topic` makes, if it is one.
    pub(crate) fn parse(topic: &str, payload: &Bytes) -> Option<Self> {
        let topic = ShadowTopic::parse(topic)?;
        topic.kind.is_request().then(|| Self {
            topic,
            payload: payload.clone(),
        })
    }
}

/// One answer to publish: its kind and JSON payload.
type Answer = (ShadowTopicKind, Vec<u8>);

fn epoch_seconds() -> u64 {
    crate::unix_now().max(0) as u64
}

impl BrokerCore {
    /// Serves one shadow request and publishes its answers. Storage failures are logged and
    /// answered 500, as AWS answers "Internal service failure".
    pub(crate) async fn serve_shadow_request(&self, request: ShadowRequest) {
        let now = epoch_seconds();
        let answers = match self.shadow_answers(&request, now).await {
            Ok(answers) => answers,
            Err(rejection) => {
                let token = recover_client_token(&request.payload);
                let kind = match request.topic.kind {
                    ShadowTopicKind::Get => ShadowTopicKind::GetRejected,
                    ShadowTopicKind::Delete => ShadowTopicKind::DeleteRejected,
                    _ => ShadowTopicKind::UpdateRejected,
                };
                vec![(kind, to_payload(&rejection.rejected(token.as_ref(), now)))]
            }
        };
        for (kind, payload) in answers {
            let topic = shadow_topic(&request.topic.thing, request.topic.shadow.as_ref(), kind);
            self.publish_service_message(&topic, Bytes::from(payload), QoS::AtLeastOnce, false);
        }
    }

    async fn shadow_answers(
        &self,
        request: &ShadowRequest,
        now: u64,
    ) -> Result<Vec<Answer>, ShadowError> {
        let limits = ShadowLimits::default();
        let ShadowTopic {
            thing,
            shadow,
            kind,
        } = &request.topic;
        let shadow = shadow.as_ref();
        let internal = |error: roost_registry::RegistryError| {
            tracing::error!(%error, thing = %thing.as_str(), "shadow storage failed");
            ShadowError::Internal
        };
        match kind {
            ShadowTopicKind::Get => {
                let token = GetOrDeleteRequest::parse(&request.payload, &limits)?.client_token;
                let document = self
                    .registry
                    .shadow(thing, shadow)
                    .await
                    .map_err(internal)?
                    .ok_or_else(|| ShadowError::not_found(thing, shadow))?;
                let answer = document.get(token.as_ref(), now);
                Ok(vec![(ShadowTopicKind::GetAccepted, to_payload(&answer))])
            }
            ShadowTopicKind::Delete => {
                let token: Option<ClientToken> =
                    GetOrDeleteRequest::parse(&request.payload, &limits)?.client_token;
                let deleted = self
                    .registry
                    .delete_shadow(thing, shadow, token, now)
                    .await
                    .map_err(internal)??;
                Ok(vec![(
                    ShadowTopicKind::DeleteAccepted,
                    to_payload(&deleted),
                )])
            }
            _ => {
                let update = UpdateRequest::parse(&request.payload, &limits)?;
                let outcome = self
                    .registry
                    .update_shadow(thing, shadow, update, now)
                    .await
                    .map_err(internal)??;
                Ok(outcome.messages())
            }
        }
    }
}
