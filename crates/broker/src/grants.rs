//! What a connection may do: the IoT policies that apply to its principal (the certificate's,
//! its thing groups', a claim's implicit policy, an access key's full access, or the insecure
//! listener's), parsed once per policy text and shared, then bound to the connection's context.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use roost_codec::Connect;
use roost_policy::{Context, PolicyDocument, PolicySet};
use roost_registry::{ConnectionThing, PrincipalGrants, RegistryError};

use crate::BrokerCore;
use crate::authorization::ConnectionAuthorizer;
use crate::identity::principal::{Principal, claim_policy, policy_context};
use crate::index::Dependencies;

/// The authorizer of a connection and what it was built from.
#[derive(Debug)]
pub(crate) struct Grants {
    pub(crate) authorizer: ConnectionAuthorizer,
    pub(crate) thing: Option<ConnectionThing>,
    pub(crate) dependencies: Dependencies,
}

/// Policies most recently seen, by name, with the text they were parsed from: a fleet shares a
/// handful of policies, so a connect costs a map lookup and a string comparison instead of a
/// JSON parse and a compile. A changed text is parsed again and replaces the entry.
#[derive(Debug, Default)]
pub(crate) struct PolicyCache {
    parsed: Mutex<HashMap<String, (String, Arc<PolicyDocument>)>>,
}

/// Most policies kept; past it the cache starts over (deleted policies leave entries behind).
const MAX_CACHED_POLICIES: usize = 10_000;

impl PolicyCache {
    /// The parsed document of policy `name` whose current text is `text`.
    fn document(&self, name: &str, text: &str) -> Result<Arc<PolicyDocument>, String> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached, document)) = parsed.get(name)
            && cached == text
        {
            return Ok(document.clone());
        }
        let document = Arc::new(PolicyDocument::parse(text).map_err(|e| e.to_string())?);
        if parsed.len() >= MAX_CACHED_POLICIES {
            parsed.clear();
        }
        parsed.insert(name.to_owned(), (text.to_owned(), document.clone()));
        Ok(document)
    }
}

/// Who a connection is, as far as its policies are concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GrantSubject<'a> {
    pub(crate) principal: Option<&'a Principal>,
    /// The access key of a SigV4-signed WebSocket connection (then `principal` is `None`).
    pub(crate) access_key: Option<&'a str>,
    pub(crate) client_id: &'a str,
    pub(crate) peer: SocketAddr,
    pub(crate) connect_attributes: &'a [String],
}

/// Resolves the policies that apply to `subject` and binds them to its context. `provisioned`
/// is what provisioning just attached, when it made all of it (no read needed).
pub(crate) async fn resolve_grants(
    core: &BrokerCore,
    subject: GrantSubject<'_>,
    provisioned: Option<PrincipalGrants>,
) -> Result<Grants, RegistryError> {
    let GrantSubject {
        principal,
        access_key,
        client_id,
        peer,
        connect_attributes,
    } = subject;
    let (set, thing, names) = match principal {
        Some(Principal {
            claim_template: Some(template),
            ..
        }) => {
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
                match core.policies.document(&name, &text) {
                    Ok(document) => {
                        names.push(name.clone());
                        documents.push((name, document));
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
        None if access_key.is_some() => (core.full_access.clone(), None, Vec::new()),
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
        connect_attributes.to_vec(),
    );
    Ok(Grants {
        authorizer: ConnectionAuthorizer::new(set.bind(&context), core.router.retained_room()),
        dependencies: Dependencies {
            certificate_id: principal.map(|p| p.certificate_id.clone()),
            thing: thing.as_ref().map(|t| t.thing.name.clone()),
            policies: names,
        },
        thing,
    })
}

/// The connect attributes of a CONNECT (`iot:ConnectAttributes`).
pub(crate) fn connect_attributes(connect: &Connect) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;
    const DENY_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*"}]}"#;

    #[test]
    fn a_policy_is_parsed_once_per_text_and_again_when_its_text_changes() {
        let cache = PolicyCache::default();
        let first = cache.document("p", ALLOW_ALL).unwrap();
        let again = cache.document("p", ALLOW_ALL).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same text is not parsed again"
        );
        let changed = cache.document("p", DENY_ALL).unwrap();
        assert!(!Arc::ptr_eq(&first, &changed));
        assert!(cache.document("bad", "{").is_err());
    }
}
