//! Shadow topics: `$aws/things/<thing>/shadow[/name/<shadow>]/<operation>[/<response>]`.

use std::fmt;

use crate::name::{ShadowName, ThingName};

/// The three things a client can ask of a shadow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShadowOperation {
    /// Read the document.
    Get,
    /// Create or change the document.
    Update,
    /// Delete the document.
    Delete,
}

impl ShadowOperation {
    /// The topic a client publishes the request on.
    pub fn request(self) -> ShadowTopicKind {
        match self {
            Self::Get => ShadowTopicKind::Get,
            Self::Update => ShadowTopicKind::Update,
            Self::Delete => ShadowTopicKind::Delete,
        }
    }

    /// The topic the service answers success on.
    pub fn accepted(self) -> ShadowTopicKind {
        match self {
            Self::Get => ShadowTopicKind::GetAccepted,
            Self::Update => ShadowTopicKind::UpdateAccepted,
            Self::Delete => ShadowTopicKind::DeleteAccepted,
        }
    }

    /// The topic the service answers errors on.
    pub fn rejected(self) -> ShadowTopicKind {
        match self {
            Self::Get => ShadowTopicKind::GetRejected,
            Self::Update => ShadowTopicKind::UpdateRejected,
            Self::Delete => ShadowTopicKind::DeleteRejected,
        }
    }
}

/// The last levels of a shadow topic: a request a client publishes, or one of the service's
/// answers and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShadowTopicKind {
    /// `…/get`
    Get,
    /// `…/update`
    Update,
    /// `…/delete`
    Delete,
    /// `…/get/accepted`
    GetAccepted,
    /// `…/get/rejected`
    GetRejected,
    /// `…/update/accepted`
    UpdateAccepted,
    /// `…/update/rejected`
    UpdateRejected,
    /// `…/update/delta`
    UpdateDelta,
    /// `…/update/documents`
    UpdateDocuments,
    /// `…/delete/accepted`
    DeleteAccepted,
    /// `…/delete/rejected`
    DeleteRejected,
}

impl ShadowTopicKind {
    /// Every kind, requests first.
    pub const ALL: [Self; 11] = [
        Self::Get,
        Self::Update,
        Self::Delete,
        Self::GetAccepted,
        Self::GetRejected,
        Self::UpdateAccepted,
        Self::UpdateRejected,
        Self::UpdateDelta,
        Self::UpdateDocuments,
        Self::DeleteAccepted,
        Self::DeleteRejected,
    ];

    /// The levels after the shadow prefix, such as `update/delta`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::GetAccepted => "get/accepted",
            Self::GetRejected => "get/rejected",
            Self::UpdateAccepted => "update/accepted",
            Self::UpdateRejected => "update/rejected",
            Self::UpdateDelta => "update/delta",
            Self::UpdateDocuments => "update/documents",
            Self::DeleteAccepted => "delete/accepted",
            Self::DeleteRejected => "delete/rejected",
        }
    }

    /// The operation the topic belongs to.
    pub fn operation(self) -> ShadowOperation {
        match self {
            Self::Get | Self::GetAccepted | Self::GetRejected => ShadowOperation::Get,
            Self::Update
            | Self::UpdateAccepted
            | Self::UpdateRejected
            | Self::UpdateDelta
            | Self::UpdateDocuments => ShadowOperation::Update,
            Self::Delete | Self::DeleteAccepted | Self::DeleteRejected => ShadowOperation::Delete,
        }
    }

    /// Whether clients publish on this topic (the service answers); every other kind is the
    /// service's to publish, and a client publishing there is treated as unauthorized.
    pub fn is_request(self) -> bool {
        matches!(self, Self::Get | Self::Update | Self::Delete)
    }

    fn from_suffix(suffix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.suffix() == suffix)
    }
}

/// A parsed shadow topic: whose shadow, and which request or answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShadowTopic {
    /// The thing the shadow belongs to.
    pub thing: ThingName,
    /// The named shadow, or `None` for the classic shadow.
    pub shadow: Option<ShadowName>,
    /// The request or answer.
    pub kind: ShadowTopicKind,
}

impl ShadowTopic {
    /// Parses a topic name. `None` when it is not a shadow topic: another `$aws/things/…`
    /// topic, an unknown operation, a name AWS would not accept, or the
    /// `…/shadow/<name>/update` form without `name/` that some documentation shows (AWS does
    /// not accept it).
    pub fn parse(topic: &str) -> Option<Self> {
        let rest = topic.strip_prefix("$aws/things/")?;
        let (thing, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("shadow/")?;
        let (shadow, suffix) = match rest.strip_prefix("name/") {
            Some(named) => {
                let (shadow, suffix) = named.split_once('/')?;
                (Some(ShadowName::new(shadow).ok()?), suffix)
            }
            None => (None, rest),
        };
        Some(Self {
            thing: ThingName::new(thing).ok()?,
            shadow,
            kind: ShadowTopicKind::from_suffix(suffix)?,
        })
    }

    /// The same shadow's topic of another kind, such as the `/update/accepted` answering an
    /// `/update`.
    pub fn with_kind(&self, kind: ShadowTopicKind) -> Self {
        Self {
            thing: self.thing.clone(),
            shadow: self.shadow.clone(),
            kind,
        }
    }

    /// The shadow's topic prefix: `$aws/things/<thing>/shadow` or
    /// `$aws/things/<thing>/shadow/name/<shadow>`.
    pub fn prefix(&self) -> String {
        shadow_prefix(&self.thing, self.shadow.as_ref())
    }
}

impl fmt::Display for ShadowTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.prefix(), self.kind.suffix())
    }
}

/// The topic name of one shadow's request or answer.
pub fn shadow_topic(
    thing: &ThingName,
    shadow: Option<&ShadowName>,
    kind: ShadowTopicKind,
) -> String {
    format!("{}/{}", shadow_prefix(thing, shadow), kind.suffix())
}

fn shadow_prefix(thing: &ThingName, shadow: Option<&ShadowName>) -> String {
    match shadow {
        Some(shadow) => format!("$aws/things/{thing}/shadow/name/{shadow}"),
        None => format!("$aws/things/{thing}/shadow"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thing(name: &str) -> ThingName {
        ThingName::new(name).unwrap()
    }

    #[test]
    fn a_classic_update_topic_parses() {
        let topic = ShadowTopic::parse("$aws/things/lamp/shadow/update").unwrap();
        assert_eq!(topic.thing.as_str(), "lamp");
        assert_eq!(topic.shadow, None);
        assert_eq!(topic.kind, ShadowTopicKind::Update);
        assert!(topic.kind.is_request());
    }

    #[test]
    fn a_named_response_topic_parses() {
        let topic = ShadowTopic::parse("$aws/things/lamp/shadow/name/config/update/delta").unwrap();
        assert_eq!(topic.shadow.unwrap().as_str(), "config");
        assert_eq!(topic.kind, ShadowTopicKind::UpdateDelta);
        assert_eq!(topic.kind.operation(), ShadowOperation::Update);
        assert!(!topic.kind.is_request());
    }

    #[test]
    fn every_kind_round_trips_for_classic_and_named_shadows() {
        let named = ShadowName::new("$package").unwrap();
        for shadow in [None, Some(&named)] {
            for kind in ShadowTopicKind::ALL {
                let text = shadow_topic(&thing("t:1"), shadow, kind);
                let topic = ShadowTopic::parse(&text).unwrap();
                assert_eq!(topic.kind, kind);
                assert_eq!(topic.shadow.as_ref(), shadow);
                assert_eq!(topic.to_string(), text);
            }
        }
    }

    #[test]
    fn named_response_topics_have_seven_slashes() {
        let shadow = ShadowName::new("s").unwrap();
        let text = shadow_topic(&thing("t"), Some(&shadow), ShadowTopicKind::GetAccepted);
        assert_eq!(text, "$aws/things/t/shadow/name/s/get/accepted");
        assert_eq!(text.matches('/').count(), 7);
    }

    #[test]
    fn answers_are_built_from_the_request_topic() {
        let request = ShadowTopic::parse("$aws/things/t/shadow/name/s/delete").unwrap();
        let op = request.kind.operation();
        assert_eq!(
            request.with_kind(op.accepted()).to_string(),
            "$aws/things/t/shadow/name/s/delete/accepted"
        );
        assert_eq!(
            request.with_kind(op.rejected()).to_string(),
            "$aws/things/t/shadow/name/s/delete/rejected"
        );
        assert_eq!(request.prefix(), "$aws/things/t/shadow/name/s");
    }

    #[test]
    fn topics_that_are_not_shadow_topics_do_not_parse() {
        for topic in [
            "$aws/things/t/shadow",
            "$aws/things/t/shadow/",
            "$aws/things/t/shadow/update/",
            "$aws/things/t/shadow/upsert",
            "$aws/things/t/shadow/update/accepted/extra",
            "$aws/things/t/shadow/name/s",
            "$aws/things/t/shadow/name/s/",
            "$aws/things/t/shadow/name//update",
            "$aws/things/t/jobs/get",
            "$aws/things//shadow/update",
            "$aws/things/a b/shadow/update",
            "aws/things/t/shadow/update",
            "$aws/things/t/shadow/name/s/t/update",
        ] {
            assert_eq!(ShadowTopic::parse(topic), None, "{topic}");
        }
    }

    #[test]
    fn the_named_form_without_name_is_not_accepted() {
        assert_eq!(
            ShadowTopic::parse("$aws/things/t/shadow/config/update"),
            None
        );
    }

    #[test]
    fn a_thing_called_name_or_a_shadow_called_update_is_still_unambiguous() {
        let topic = ShadowTopic::parse("$aws/things/name/shadow/name/update/update").unwrap();
        assert_eq!(topic.thing.as_str(), "name");
        assert_eq!(topic.shadow.unwrap().as_str(), "update");
        assert_eq!(topic.kind, ShadowTopicKind::Update);
    }
}
