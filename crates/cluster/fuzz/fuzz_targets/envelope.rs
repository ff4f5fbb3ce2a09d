//! Decodes arbitrary bytes as a message from another node: nothing may panic, and whatever
//! decodes must encode back to an envelope that decodes to the same message.

#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use roost_cluster::envelope;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let Ok((stamp, message)) = envelope::decode(data, now) else {
        return;
    };
    let encoded = envelope::encode(stamp, &message, now).expect("a decoded message encodes");
    let (again_stamp, again) = envelope::decode(&encoded, now).expect("its encoding decodes");
    assert_eq!(again_stamp, stamp);
    assert_eq!(again.topic, message.topic);
    assert_eq!(again.payload, message.payload);
    assert_eq!(again.qos, message.qos);
    assert_eq!(again.retain, message.retain);
    assert_eq!(again.properties, message.properties);
});
