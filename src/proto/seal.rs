//! Keyed groups: every frame sealed with XChaCha20-Poly1305 under the group's key.
//!
//! A sealed frame is an open frame with flag bit 0 set, its body encrypted in place, and a
//! 16-byte tag after it. The 39-byte header stays in clear, so receivers can route and count
//! before they open anything, but it is bound into the tag as associated data, together with
//! the group's label: change one header byte, or send the frame to a group with the same key
//! and another label, and it does not open.
//!
//! The nonce is the header's sender, life and frame number (8 bytes each): a sender never uses
//! one twice, since frame numbers only grow within a life (ring-link frames count in a range of
//! their own, see `LINK_SEQ`), and a new life or a new run has a new life or a new random id.
//! No randomness is needed to seal, so the core stays free of OS reads.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

use super::reasons::DropReason;
use super::wire::{FLAG_SEALED, HEADER_LEN, MAGIC};

/// Bytes in a group key.
pub const KEY_LEN: usize = 32;
/// Bytes a seal adds to a frame.
pub const TAG_LEN: usize = 16;
/// Ring-link frames are numbered from here up, apart from the multicast frame numbers, so the
/// two never share a nonce.
pub(crate) const LINK_SEQ: u64 = 1 << 63;

/// Bound into every tag ahead of the label, so no other protocol's sealed bytes open as ours.
const CONTEXT: &[u8] = b"groupcast/2 sealed frame\0";

/// A group's key and label: what seals and opens its frames.
#[derive(Clone)]
pub struct GroupKey {
    cipher: XChaCha20Poly1305,
    label: String,
    /// The first bytes of the key's SHA-256, to tell keys apart on screen without showing them.
    fingerprint: String,
}

impl std::fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("GroupKey")
            .field("label", &self.label)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Why a received frame did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Not sealed: an open group's frame, or bare text.
    Unsealed,
    /// Sealed, but not with this key and label, or changed on the way.
    BadKey,
}

/// What a node of a group keyed with `key` (`None`: open) takes of `bytes` as it arrived: the
/// frame opened (in an open group, as it is), or why it is refused. A keyed group hears only its
/// own: open frames and old clients' bare text are someone else's, and a frame that does not
/// open is forged or changed.
pub(crate) fn opened<'a>(key: Option<&GroupKey>, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, DropReason> {
    let Some(key) = key else { return Ok(std::borrow::Cow::Borrowed(bytes)) };
    key.open(bytes).map(std::borrow::Cow::Owned).map_err(|e| match e {
        OpenError::BadKey => DropReason::BadKey,
        OpenError::Unsealed if bytes.starts_with(&MAGIC) => DropReason::Unsealed,
        OpenError::Unsealed => DropReason::BareIgnored,
    })
}

impl GroupKey {
    /// The key `key` for the group labelled `label` (groups that share a key but not a label
    /// do not hear each other).
    pub fn new(key: &[u8; KEY_LEN], label: &str) -> Self {
        use sha2::Digest;
        let fingerprint = hex::encode(&sha2::Sha256::digest(key)[..4]);
        GroupKey { cipher: XChaCha20Poly1305::new(key.into()), label: label.to_string(), fingerprint }
    }

    /// The label bound into every seal.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Eight hex digits that tell keys apart (the start of the key's SHA-256).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn aad(&self, header: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(CONTEXT.len() + self.label.len() + 1 + header.len());
        aad.extend_from_slice(CONTEXT);
        aad.extend_from_slice(self.label.as_bytes());
        aad.push(0);
        aad.extend_from_slice(header);
        aad
    }

    /// Seals an encoded open frame in place: sets the flag, encrypts the body, appends the tag.
    pub fn seal(&self, frame: &mut Vec<u8>) {
        debug_assert!(frame.len() >= HEADER_LEN && frame.starts_with(&MAGIC) && frame[5] == 0);
        frame[5] = FLAG_SEALED;
        let nonce = XNonce::clone_from_slice(&frame[6..30]);
        let aad = self.aad(&frame[..HEADER_LEN]);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, &aad, &mut frame[HEADER_LEN..])
            .expect("a frame is far below the cipher's length limit");
        frame.extend_from_slice(&tag);
    }

    /// Opens a received sealed frame: the open frame, as `wire::decode` takes it.
    pub fn open(&self, bytes: &[u8]) -> Result<Vec<u8>, OpenError> {
        if !bytes.starts_with(&MAGIC) || bytes.get(5) != Some(&FLAG_SEALED) {
            return Err(OpenError::Unsealed);
        }
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(OpenError::BadKey);
        }
        let (sealed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let nonce = XNonce::clone_from_slice(&sealed[6..30]);
        let aad = self.aad(&sealed[..HEADER_LEN]);
        let mut open = sealed.to_vec();
        self.cipher
            .decrypt_in_place_detached(&nonce, &aad, &mut open[HEADER_LEN..], Tag::from_slice(tag))
            .map_err(|_| OpenError::BadKey)?;
        open[5] = 0;
        Ok(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::{Hlc, Incarnation, NodeId, Seq};
    use crate::proto::wire::{self, Body, Datagram, Frame, MessageBody};

    fn frame(text: &str) -> Vec<u8> {
        let body = Body::Message(MessageBody {
            msg_seq: Seq(1),
            name: "ann".into(),
            text: text.into(),
            bare_from: None,
            over: None,
        });
        wire::encode(&Frame { sender: NodeId(7), incarnation: Incarnation(3), seq: Seq(9), hlc: Hlc(5), body }).unwrap()
    }

    #[test]
    fn a_sealed_frame_opens_with_its_key_and_label_only() {
        let key = GroupKey::new(&[1; KEY_LEN], "225.0.0.37:12345");
        let mut sealed = frame("the secret plan");
        key.seal(&mut sealed);
        assert_eq!(sealed.len(), frame("the secret plan").len() + TAG_LEN);
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "the text is not readable on the wire");
        assert_eq!(wire::decode(&sealed), Err(wire::DecodeError::Sealed), "an open node cannot read it");
        let open = key.open(&sealed).unwrap();
        match wire::decode(&open).unwrap() {
            Datagram::Frame(f) => assert!(matches!(f.body, Body::Message(m) if &*m.text == "the secret plan")),
            Datagram::Bare(_) => panic!("a frame"),
        }
        let other_label = GroupKey::new(&[1; KEY_LEN], "225.0.0.38:12345");
        assert_eq!(other_label.open(&sealed), Err(OpenError::BadKey));
        let other_key = GroupKey::new(&[2; KEY_LEN], "225.0.0.37:12345");
        assert_eq!(other_key.open(&sealed), Err(OpenError::BadKey));
        assert_eq!(key.open(&frame("open")), Err(OpenError::Unsealed));
        assert_eq!(key.open(b"bare text\n"), Err(OpenError::Unsealed));
    }

    #[test]
    fn any_flipped_byte_or_cut_stops_it_opening() {
        let key = GroupKey::new(&[9; KEY_LEN], "g");
        let mut sealed = frame("hello");
        key.seal(&mut sealed);
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x40;
            assert!(key.open(&t).is_err(), "byte {i} flipped");
        }
        for len in 0..sealed.len() {
            assert!(key.open(&sealed[..len]).is_err(), "cut to {len}");
        }
    }

    proptest::proptest! {
        /// What `fuzz/fuzz_targets/sealed.rs` runs, in the normal test command: any bytes,
        /// and any change to a sealed frame, never panic and never open.
        #[test]
        fn arbitrary_bytes_never_open_or_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1500)) {
            let key = GroupKey::new(&[3; KEY_LEN], "g");
            proptest::prop_assert!(key.open(&bytes).is_err());
        }

        #[test]
        fn a_changed_sealed_frame_never_opens(
            text in ".{0,100}",
            at in 0usize..2000,
            flip in 1u8..=255,
            cut in 0usize..40,
        ) {
            let key = GroupKey::new(&[3; KEY_LEN], "g");
            let mut sealed = frame(&text);
            key.seal(&mut sealed);
            let mut changed = sealed.clone();
            let i = at % changed.len();
            changed[i] ^= flip;
            proptest::prop_assert!(key.open(&changed).is_err());
            let short = &sealed[..sealed.len() - 1 - cut.min(sealed.len() - 1)];
            proptest::prop_assert!(key.open(short).is_err());
            proptest::prop_assert!(key.open(&sealed).is_ok());
        }
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = GroupKey::new(&[0xAB; KEY_LEN], "g");
        let s = format!("{key:?}");
        assert!(!s.to_lowercase().contains("abab"), "{s}");
        assert_eq!(key.fingerprint().len(), 8);
    }
}
