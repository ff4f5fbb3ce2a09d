//! Decodes arbitrary bytes as a batch of messages from another node: nothing may panic, and
//! whatever decodes must encode back to a batch that decodes to the same messages.

#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use roost_cluster::envelope::{self, Batch};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let Ok(messages) = envelope::decode(data, now) else {
        return;
    };
    let mut batch = Batch::new(messages[0].0.origin);
    for (stamp, message) in &messages {
        assert!(batch.push(stamp.sequence, message, now), "a decoded message encodes");
    }
    let again = envelope::decode(&batch.finish(), now).expect("its encoding decodes");
    assert_eq!(again.len(), messages.len());
    for ((stamp, message), (again_stamp, again)) in messages.iter().zip(&again) {
        assert_eq!(again_stamp, stamp);
        assert_eq!(again.topic, message.topic);
        assert_eq!(again.payload, message.payload);
        assert_eq!(again.qos, message.qos);
        assert_eq!(again.retain, message.retain);
        assert_eq!(again.properties, message.properties);
    }
});
