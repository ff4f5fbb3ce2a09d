//! Decodes arbitrary bytes as another node's interest notice: nothing may panic, whatever
//! decodes encodes back to the same notice, and applying it keeps the view consistent.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use roost_cluster::interest::{InterestTrie, Notice, PeerInterest};

fuzz_target!(|data: &[u8]| {
    let Ok(notice) = Notice::decode(data) else {
        return;
    };
    assert_eq!(Notice::decode(&notice.encode()).as_ref(), Ok(&notice));
    let (mut peers, mut trie) = (PeerInterest::new(), InterestTrie::new());
    peers.apply(notice.clone(), &mut trie, Duration::ZERO);
    peers.apply(notice, &mut trie, Duration::from_secs(1));
    let _ = trie.wants("a/b/c");
    let _ = trie.wants("$aws/things/x");
    peers.forget_silent(&mut trie, Duration::from_secs(3600));
    assert!(trie.is_empty(), "a forgotten node leaves nothing behind");
});
