//! Standard input as lines, for `groupcast node`.
//!
//! When stdin is a pipe or a socket (a script feeding the node), it is read on the runtime's
//! own thread as soon as the kernel says it is readable: a line goes from the pipe to the wire
//! in one wake-up. tokio's own stdin hands every read to a blocking thread, which then has to
//! wake the runtime (two thread switches per line). A terminal, a file or /dev/null is read the
//! usual way: a terminal's end (Ctrl-D) and a file's data are not announced by readiness.

use tokio::sync::mpsc;

/// Reads stdin to its end, sending each line (without its `\n` or `\r\n`; invalid UTF-8
/// replaced, not the end of reading) until the receiver goes away.
pub async fn forward(tx: mpsc::Sender<String>) {
    use tokio::io::AsyncBufReadExt;
    #[cfg(unix)]
    if let Some(fd) = polled::stdin() {
        polled::forward(fd, tx).await;
        return;
    }
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).split(b'\n');
    let mut lines = Splitter::default();
    while let Ok(Some(mut bytes)) = stdin.next_segment().await {
        bytes.push(b'\n');
        for line in lines.push(&bytes) {
            if tx.send(line).await.is_err() {
                return;
            }
        }
    }
}

/// Cuts a byte stream into lines.
#[derive(Default)]
struct Splitter {
    pending: Vec<u8>,
}

impl Splitter {
    /// The lines completed by `bytes`.
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&rest[..i]);
            rest = &rest[i + 1..];
            let line = std::mem::take(&mut self.pending);
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            lines.push(String::from_utf8_lossy(line).into_owned());
        }
        self.pending.extend_from_slice(rest);
        lines
    }

    /// What was left without a newline at the end of input, if anything.
    fn finish(self) -> Option<String> {
        (!self.pending.is_empty()).then(|| String::from_utf8_lossy(&self.pending).into_owned())
    }
}

#[cfg(unix)]
mod polled {
    use std::io::Stdin;
    use std::os::fd::AsFd;

    use rustix::fs::FileType;
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;
    use tokio::sync::mpsc;

    use super::Splitter;

    /// Stdin registered with the runtime, if it is a pipe or a socket.
    pub fn stdin() -> Option<AsyncFd<Stdin>> {
        let stdin = std::io::stdin();
        let stat = rustix::fs::fstat(stdin.as_fd()).ok()?;
        let kind = FileType::from_raw_mode(stat.st_mode);
        if !matches!(kind, FileType::Fifo | FileType::Socket) {
            return None;
        }
        // `AsyncFd::new` is deprecated for types whose fd could be closed while registered
        // (its replacement is `unsafe`, which this crate forbids); fd 0 stays open.
        #[allow(deprecated)]
        AsyncFd::with_interest(stdin, Interest::READABLE).ok()
    }

    /// Reads only what the kernel holds (`FIONREAD`), so a read never blocks the thread, and
    /// takes the end when the writer has closed and nothing is left.
    pub async fn forward(fd: AsyncFd<Stdin>, tx: mpsc::Sender<String>) {
        let mut buf = vec![0u8; 64 << 10];
        let mut lines = Splitter::default();
        loop {
            let Ok(mut ready) = fd.readable().await else { break };
            let held = rustix::io::ioctl_fionread(ready.get_inner().as_fd()).unwrap_or(0);
            if held == 0 {
                if ready.ready().is_read_closed() {
                    break;
                }
                ready.clear_ready();
                continue;
            }
            let want = usize::try_from(held).unwrap_or(usize::MAX).min(buf.len());
            let n = match rustix::io::read(ready.get_inner().as_fd(), &mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
                Err(_) => break,
            };
            for line in lines.push(&buf[..n]) {
                if tx.send(line).await.is_err() {
                    return;
                }
            }
        }
        if let Some(last) = lines.finish() {
            let _ = tx.send(last).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Splitter;

    #[test]
    fn lines_are_cut_at_newlines_across_reads_and_keep_invalid_bytes_as_replacements() {
        let mut s = Splitter::default();
        assert_eq!(s.push(b"one\ntw"), vec!["one"]);
        assert_eq!(s.push(b"o\r\n\nthr\xffee\n"), vec!["two", "", "thr\u{fffd}ee"]);
        assert!(s.push(b"last").is_empty());
        assert_eq!(s.finish().as_deref(), Some("last"));
        assert_eq!(Splitter::default().finish(), None);
    }
}
