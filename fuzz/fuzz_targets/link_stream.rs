//! Any byte stream on a ring link, through the link's framing (a small cap until hello, then
//! the repair size) to the frame decoder, as `net::link` reads it.
#![no_main]

use bytes::BytesMut;
use groupcast::net::MAX_HELLO;
use groupcast::proto::TAG_LEN;
use groupcast::proto::wire::{self, MAX_LINK_FRAME};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

fuzz_target!(|data: &[u8]| {
    let mut codec =
        LengthDelimitedCodec::builder().length_field_length(4).max_frame_length(MAX_HELLO + TAG_LEN).new_codec();
    let mut buf = BytesMut::from(data);
    let mut first = true;
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        let _ = wire::decode(&frame);
        if first {
            codec.set_max_frame_length(MAX_LINK_FRAME + TAG_LEN);
            first = false;
        }
    }
});
