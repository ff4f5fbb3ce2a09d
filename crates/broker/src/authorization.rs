//! What a connection may do: the IoT policies that apply to it, bound once to its context, plus
//! the broker's own rule that no client may forge messages on Roost's reserved topics.

use roost_mqtt::{Authorizer, Message, SubscriptionFilter, TopicName};
use roost_policy::{Action, BoundPolicy, Decision, Resource};

use crate::router::RetainedRoom;

/// The reserved topics only Roost itself publishes on, whatever a policy allows: lifecycle and
/// registry events, and the answers of its device-facing services. A device allowed
/// `iot:Publish` on `*` must not be able to forge a registration event or a provisioning reply.
pub fn is_reserved_for_roost(topic: &str) -> bool {
    if topic.starts_with("$aws/events/") {
        return true;
    }
    let service_reply = topic.ends_with("/accepted")
        || topic.ends_with("/rejected")
        || topic.contains("/accepted/")
        || topic.contains("/rejected/");
    if service_reply
        && (topic.starts_with("$aws/certificates/")
            || topic.starts_with("$aws/provisioning-templates/")
            || topic.starts_with("$aws/things/"))
    {
        return true;
    }
    // What the shadow and jobs services send of their own accord (subscribe-only for devices
    // in AWS's reserved-topics table).
    topic.starts_with("$aws/things/")
        && ((topic.contains("/shadow/")
            && (topic.ends_with("/update/delta") || topic.ends_with("/update/documents")))
            || (topic.contains("/jobs/")
                && (topic.ends_with("/jobs/notify") || topic.ends_with("/jobs/notify-next"))))
}

/// The policy decisions of one connection.
#[derive(Debug)]
pub struct ConnectionAuthorizer {
    policy: BoundPolicy,
    retained: RetainedRoom,
}

impl ConnectionAuthorizer {
    pub fn new(policy: BoundPolicy, retained: RetainedRoom) -> Self {
        Self { policy, retained }
    }

    /// `iot:Connect` for `client_id`.
    pub fn connect(&self, client_id: &str) -> Decision {
        self.policy
            .authorize(Action::Connect, Resource::Client(client_id))
    }

    /// A thing-level action (shadows over HTTPS) on `thing/<resource>`.
    pub fn thing(&self, action: Action, resource: &str) -> bool {
        self.policy
            .authorize(action, Resource::Thing(resource))
            .is_allowed()
    }

    /// Whether the will (topic and retain flag) may be published by this client.
    pub fn will(&self, topic: &str, retain: bool) -> bool {
        self.may_publish(topic, retain)
    }

    fn may_publish(&self, topic: &str, retain: bool) -> bool {
        if is_reserved_for_roost(topic) {
            return false;
        }
        if !self
            .policy
            .authorize(Action::Publish, Resource::Topic(topic))
            .is_allowed()
        {
            return false;
        }
        !retain
            || self
                .policy
                .authorize(Action::RetainPublish, Resource::Topic(topic))
                .is_allowed()
    }
}

impl Authorizer for ConnectionAuthorizer {
    fn publish(&self, topic: &TopicName, retain: bool) -> bool {
        self.may_publish(topic.as_str(), retain)
    }

    fn subscribe(&self, filter: &SubscriptionFilter) -> bool {
        // Basic Ingest topics reach rules only; no one may subscribe to them.
        if filter.filter().as_str().starts_with("$aws/rules/") {
            return false;
        }
        self.policy
            .authorize(
                Action::Subscribe,
                Resource::TopicFilter(&filter_text(filter)),
            )
            .is_allowed()
    }

    fn receive(&self, topic: &TopicName) -> bool {
        self.policy
            .authorize(Action::Receive, Resource::Topic(topic.as_str()))
            .is_allowed()
    }

    fn retained_room(&self, message: &Message) -> bool {
        self.retained.has_room(message)
    }
}

/// The filter as the client wrote it (`$share/group/filter` for shared ones), which is what
/// `topicfilter/` resources name.
pub fn filter_text(filter: &SubscriptionFilter) -> String {
    filter.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_service_replies_are_reserved_but_shadow_requests_are_not() {
        assert!(is_reserved_for_roost("$aws/events/presence/connected/c1"));
        assert!(is_reserved_for_roost(
            "$aws/events/certificates/registered/abc"
        ));
        assert!(is_reserved_for_roost(
            "$aws/certificates/create/json/accepted"
        ));
        assert!(is_reserved_for_roost(
            "$aws/provisioning-templates/t/provision/json/rejected"
        ));
        assert!(is_reserved_for_roost(
            "$aws/things/t1/shadow/update/accepted"
        ));
        assert!(is_reserved_for_roost("$aws/things/t1/shadow/update/delta"));
        assert!(is_reserved_for_roost(
            "$aws/things/t1/shadow/name/n/update/documents"
        ));
        assert!(is_reserved_for_roost("$aws/things/t1/jobs/notify-next"));
        assert!(!is_reserved_for_roost("$aws/things/t1/jobs/start-next"));
        assert!(!is_reserved_for_roost("$aws/things/t1/shadow/update"));
        assert!(!is_reserved_for_roost("$aws/certificates/create/json"));
        assert!(!is_reserved_for_roost("devices/accepted"));
    }
}
