//! `--history PATH`: the conversation kept across runs, one JSON object a line (the shape
//! `/save` writes, with the message's place in the log added so a message is never kept twice).
//!
//! ```json
//! {"ts":"2026-11-27T06:40:01.123Z","from":"9f3c…","name":"alice","text":"hi","hlc":…,"node":"9f3c…","seq":1}
//! ```
//!
//! The terminal UI shows what the file holds when it opens, then adds every message it shows;
//! `groupcast node` adds every message it prints. A message the group repairs into a node that
//! already kept it (a restart: the group still holds the same messages) is not added again.
//! The file is made readable by its owner only. Lines that do not parse are skipped and counted.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::proto::types::Key;
use crate::proto::{Entry, Hlc, NodeId, Seq};

/// Messages read back from the file at most (the newest are kept).
pub(crate) const MAX_LOADED: usize = 20_000;

/// One kept message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// Its place in the log: stamp, stamping node, number.
    pub key: Key,
    /// Who to show as the author (a name, or an old client's `IP:port`).
    pub author: Arc<str>,
    /// From an old client.
    pub bare: bool,
    /// What was said.
    pub text: Arc<str>,
}

impl Kept {
    /// A message of the log, as kept.
    pub fn of(e: &Entry) -> Kept {
        Kept { key: e.key(), author: e.author(), bare: e.bare_from.is_some(), text: e.text.clone() }
    }

    /// Its JSON line (no newline).
    pub fn line(&self) -> String {
        let (hlc, node, seq) = self.key;
        let from = if self.bare { self.author.to_string() } else { node.to_string() };
        serde_json::json!({
            "ts": hlc.to_rfc3339(),
            "from": from,
            "name": self.author,
            "text": self.text,
            "hlc": hlc.0,
            "node": node.to_string(),
            "seq": seq.0,
            "bare": self.bare,
        })
        .to_string()
    }

    /// A line of the file, if it is one of ours.
    fn parse(line: &str) -> Option<Kept> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let hlc = Hlc(v["hlc"].as_u64()?);
        let node = NodeId(u64::from_str_radix(v["node"].as_str()?, 16).ok()?);
        let seq = Seq(v["seq"].as_u64()?);
        Some(Kept {
            key: (hlc, node, seq),
            author: v["name"].as_str()?.into(),
            bare: v["bare"].as_bool().unwrap_or(false),
            text: v["text"].as_str()?.into(),
        })
    }
}

/// The history file, open for adding.
pub(crate) struct History {
    path: PathBuf,
    file: File,
    /// Keys already in the file (read back, or added in this run).
    kept: HashSet<Key>,
}

/// What opening found.
pub(crate) struct Opened {
    /// The file, ready for adding; `None` if another groupcast is adding to it (two would keep
    /// every message twice): its messages are still read.
    pub history: Option<History>,
    /// Its messages, oldest first (the newest `MAX_LOADED`).
    pub earlier: Vec<Kept>,
    /// Lines that were not messages of ours (cut short by a crash, edited by hand).
    pub skipped: usize,
    /// Where it is.
    pub path: PathBuf,
}

impl Opened {
    /// What the user should know about the file beyond its messages, if anything.
    pub(crate) fn note(&self) -> Option<String> {
        let mut notes = Vec::new();
        if self.history.is_none() {
            notes.push("another groupcast is keeping the conversation there: this one only reads it".to_string());
        }
        if self.skipped > 0 {
            notes.push(format!("{} lines there were not messages and were left out", self.skipped));
        }
        (!notes.is_empty()).then(|| format!("history file {}: {}", self.path.display(), notes.join("; ")))
    }
}

impl History {
    /// Reads the file (missing: empty) and opens it for adding, made if need be (and its
    /// directory), readable by its owner only. An error is one line naming the file.
    pub(crate) fn open(path: &Path) -> Result<Opened, String> {
        let said = |e: std::io::Error| format!("history file {}: {e}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(said)?;
        }
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(path).map_err(said)?;
        // One writer at a time: a second groupcast on the same file (a second terminal with the
        // same config) reads it but does not add to it.
        let alone = rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok();
        // Bytes, not text: a line cut in the middle of a character (a crash, or the writer
        // seen mid-write by a reader) is one bad line, not an unreadable file.
        let mut bytes = Vec::new();
        File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(said)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut earlier = Vec::new();
        let mut skipped = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match Kept::parse(line) {
                Some(k) => earlier.push(k),
                None => skipped += 1,
            }
        }
        // A last line cut short (a crash, a full disk) must not swallow the next one.
        if alone && !text.is_empty() && !text.ends_with('\n') {
            file.write_all(b"\n").map_err(said)?;
        }
        earlier.sort_by_key(|k| k.key);
        earlier.dedup_by_key(|k| k.key);
        let kept = earlier.iter().map(|k| k.key).collect();
        let cut = earlier.len().saturating_sub(MAX_LOADED);
        earlier.drain(..cut);
        let history = alone.then(|| History { path: path.to_path_buf(), file, kept });
        Ok(Opened { history, earlier, skipped, path: path.to_path_buf() })
    }

    /// Adds the messages not kept yet, in one write. An error names the file.
    pub(crate) fn add<'a>(&mut self, messages: impl IntoIterator<Item = &'a Kept>) -> Result<(), String> {
        let mut out = String::new();
        for k in messages {
            if self.kept.insert(k.key) {
                out.push_str(&k.line());
                out.push('\n');
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        self.file.write_all(out.as_bytes()).map_err(|e| format!("cannot add to {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Incarnation;

    fn entry(ms: u64, node: u64, seq: u64, text: &str) -> Entry {
        Entry {
            ts: Hlc::from_unix(std::time::Duration::from_millis(ms)),
            node: NodeId(node),
            incarnation: Incarnation(1),
            seq: Seq(seq),
            name: "alice".into(),
            text: text.into(),
            bare_from: None,
            over: None,
        }
    }

    #[test]
    fn messages_are_kept_once_across_runs_and_read_back_in_log_order() {
        let dir = std::env::temp_dir().join(format!("groupcast-history-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let (a, b) = (entry(2_000, 7, 2, "second"), entry(1_000, 7, 1, "first"));
        let mut h = History::open(&dir).unwrap();
        assert!(h.earlier.is_empty());
        h.history.as_mut().unwrap().add(&[Kept::of(&a), Kept::of(&b)]).unwrap();
        drop(h);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "owner only");
        }
        // A line from elsewhere, and one cut short by a crash (no newline after it).
        std::fs::OpenOptions::new().append(true).open(&dir).unwrap().write_all(b"[1,2]\n{\"ts\":").unwrap();
        let mut h = History::open(&dir).unwrap();
        assert_eq!(h.skipped, 2);
        assert!(h.note().unwrap().contains("2 lines there were not messages"));
        // A second groupcast on the same file reads it but does not add to it.
        let second = History::open(&dir).unwrap();
        assert!(second.history.is_none() && second.earlier.len() == 2);
        assert!(second.note().unwrap().contains("another groupcast"));
        let texts: Vec<&str> = h.earlier.iter().map(|k| &*k.text).collect();
        assert_eq!(texts, ["first", "second"]);
        assert_eq!(h.earlier[0].key, b.key());
        // The same messages again (the group repairs them into the new run): not added twice.
        h.history.as_mut().unwrap().add(&[Kept::of(&b), Kept::of(&a), Kept::of(&entry(3_000, 8, 1, "third"))]).unwrap();
        let text = std::fs::read_to_string(&dir).unwrap();
        assert_eq!(text.matches("\"first\"").count(), 1);
        assert_eq!(text.matches("\"third\"").count(), 1);
        drop((h, second));
        let h = History::open(&dir).unwrap();
        assert_eq!(h.earlier.len(), 3, "the torn line did not take the next one with it");
        let _ = std::fs::remove_file(&dir);
    }
}
