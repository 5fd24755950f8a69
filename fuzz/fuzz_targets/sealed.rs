//! Any bytes to the sealed-frame opener; a sealed frame changed anywhere never opens.
#![no_main]

use groupcast::proto::{GroupKey, KEY_LEN};
use groupcast::proto::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = GroupKey::new(&[7; KEY_LEN], "225.0.0.37:12345");
    if let Ok(open) = key.open(data) {
        // Only something sealed with this key opens; what it holds must decode safely.
        let _ = wire::decode(&open);
    }
    // Seal the input as a frame body, then check that no single changed byte opens.
    let mut frame = wire::MAGIC.to_vec();
    frame.extend_from_slice(&[wire::VERSION, 0]);
    frame.extend_from_slice(&[1; 32]);
    frame.push(4);
    frame.extend_from_slice(data);
    key.seal(&mut frame);
    assert!(key.open(&frame).is_ok());
    if !data.is_empty() {
        let i = usize::from(data[0]) % frame.len();
        frame[i] ^= 0x01;
        assert!(key.open(&frame).is_err(), "a changed frame opened");
    }
});
