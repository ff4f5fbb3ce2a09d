//! The broker's hot-path metrics, as handles created once: `metrics::counter!` hashes its
//! name and looks it up in the global registry on every call, which costs a fifth of the CPU of
//! small-message pub/sub when done per packet.

use metrics::{Counter, Gauge};

/// Counters and gauges updated per packet or per connection.
#[derive(Debug, Clone)]
pub struct BrokerMetrics {
    pub packets_received: Counter,
    pub messages_received: Counter,
    pub messages_sent: Counter,
    pub deliveries_dropped_mailbox_full: Counter,
    /// Retained publishes delivered live but not stored: the retained store was full.
    pub retained_refused: Counter,
    pub connections: Gauge,
}

impl BrokerMetrics {
    /// Registers the handles with the installed recorder (none installed: they do nothing).
    pub fn new() -> Self {
        Self {
            packets_received: metrics::counter!("roost_mqtt_packets_received_total"),
            messages_received: metrics::counter!("roost_mqtt_messages_received_total"),
            messages_sent: metrics::counter!("roost_mqtt_messages_sent_total"),
            deliveries_dropped_mailbox_full: metrics::counter!(
                "roost_mqtt_deliveries_dropped_total",
                "reason" => "mailbox_full"
            ),
            retained_refused: metrics::counter!("roost_mqtt_retained_refused_total"),
            connections: metrics::gauge!("roost_mqtt_connections"),
        }
    }
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
