//! Group key files. `groupcast keygen PATH` writes a new random key; `--key-file PATH` (or
//! `GROUPCAST_KEY_FILE`) reads one and makes the group keyed.
//!
//! A key file is one line: 64 hex digits (32 bytes). It must be readable by its owner only, as
//! an SSH private key must: a key others can read is refused, with the command that fixes it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::proto::seal::KEY_LEN;

/// Writes a new random key to `path`, which must not exist yet, readable by its owner only.
pub fn generate(path: &Path) -> Result<(), String> {
    let key: [u8; KEY_LEN] = rand::random();
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} already exists; groupcast keygen never overwrites a key", path.display())
        } else {
            format!("cannot create {}: {e}", path.display())
        }
    })?;
    f.write_all(format!("{}\n", hex::encode(key)).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads the key in `path`: refused if others may read it or it is not a key.
pub fn load(path: &Path) -> Result<[u8; KEY_LEN], String> {
    let shown = path.display();
    let meta = fs::metadata(path).map_err(|e| format!("key file {shown}: {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!("key file {shown} can be read by others (mode {mode:03o}); run: chmod 600 {shown}"));
    }
    let text = fs::read_to_string(path).map_err(|e| format!("key file {shown}: {e}"))?;
    let bytes = hex::decode(text.trim()).ok().filter(|b| b.len() == KEY_LEN).ok_or_else(|| {
        format!("key file {shown} is not a groupcast key (64 hex digits; make one with groupcast keygen)")
    })?;
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("groupcast-key-{}-{}", std::process::id(), rand::random::<u32>()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_new_key_is_private_loads_and_is_never_overwritten() {
        let tmp = dir();
        let path = tmp.join("group.key");
        generate(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let key = load(&path).unwrap();
        let err = generate(&path).unwrap_err();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(load(&path).unwrap(), key, "the key is unchanged");
        let other = tmp.join("other.key");
        generate(&other).unwrap();
        assert_ne!(load(&other).unwrap(), key, "keys are random");
        fs::remove_dir_all(tmp).unwrap();
    }

    #[test]
    fn a_key_others_can_read_or_of_the_wrong_size_is_refused_with_one_line() {
        let d = dir();
        let p = d.join("group.key");
        generate(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.contains("can be read by others") && e.contains("chmod 600"), "{e}");
        assert!(!e.contains('\n'));
        let short = d.join("short.key");
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&short)
            .unwrap()
            .write_all(b"abcd\n")
            .unwrap();
        let e = load(&short).unwrap_err();
        assert!(e.contains("not a groupcast key"), "{e}");
        let e = load(&d.join("missing.key")).unwrap_err();
        assert!(e.contains("missing.key"), "{e}");
        fs::remove_dir_all(d).unwrap();
    }
}
