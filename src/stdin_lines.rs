//! Standard input as lines, for `groupcast node`.
//!
//! When stdin is a pipe or a socket (a script feeding the node), it is read on the runtime's
//! own thread as soon as the kernel says it is readable, never blocking (the pipe is opened
//! anew non-blocking, so another reader of it cannot leave us waiting): a line goes from the
//! pipe to the wire in one wake-up. tokio's own stdin hands every read to a blocking thread, which then has to
//! wake the runtime (two thread switches per line). A terminal, a file or /dev/null is read the
//! usual way: a terminal's end (Ctrl-D) and a file's data are not announced by readiness.

/// Reads stdin to its end, handing `take` the lines of each read (without their `\n` or
/// `\r\n`; invalid UTF-8 replaced, not the end of reading) until it says to stop. `take` runs
/// in this task: a line reaches the node without waking another task first.
pub(crate) async fn forward(mut take: impl AsyncFnMut(Vec<String>) -> bool) {
    use tokio::io::AsyncBufReadExt;
    #[cfg(unix)]
    if let Some(fd) = polled::stdin() {
        polled::forward(fd, take).await;
        return;
    }
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).split(b'\n');
    let mut lines = Splitter::default();
    while let Ok(Some(mut bytes)) = stdin.next_segment().await {
        bytes.push(b'\n');
        if !take(lines.push(&bytes)).await {
            return;
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
    use std::fs::File;
    use std::io::{ErrorKind, Read};
    use std::os::fd::AsFd;
    use std::os::unix::fs::OpenOptionsExt;

    use rustix::fs::{FileType, OFlags};
    use rustix::net::RecvFlags;
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    use super::Splitter;

    /// Stdin, read without ever blocking the thread (the network task runs on it too).
    pub(super) enum Source {
        /// A pipe, opened anew non-blocking: a file description of our own, so the flag
        /// touches no one else who holds the pipe.
        Pipe(AsyncFd<File>),
        /// A socket, read with `MSG_DONTWAIT`.
        Socket(AsyncFd<std::io::Stdin>),
    }

    /// Stdin registered with the runtime, if it is a pipe or a socket.
    pub(super) fn stdin() -> Option<Source> {
        let stdin = std::io::stdin();
        let stat = rustix::fs::fstat(stdin.as_fd()).ok()?;
        // `AsyncFd::new` is deprecated for types whose fd could be closed while registered
        // (its replacement is `unsafe`, which this crate forbids); these stay open.
        #[allow(deprecated)]
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Fifo => {
                let pipe = File::options()
                    .read(true)
                    .custom_flags(OFlags::NONBLOCK.bits() as i32)
                    .open("/proc/self/fd/0")
                    .ok()?;
                AsyncFd::with_interest(pipe, Interest::READABLE).ok().map(Source::Pipe)
            }
            FileType::Socket => AsyncFd::with_interest(stdin, Interest::READABLE).ok().map(Source::Socket),
            _ => None,
        }
    }

    /// Reads whatever is there each time the kernel says stdin is readable, until its end.
    pub(super) async fn forward(source: Source, mut take: impl AsyncFnMut(Vec<String>) -> bool) {
        let mut buf = vec![0u8; 64 << 10];
        let mut lines = Splitter::default();
        loop {
            let read = match &source {
                Source::Pipe(fd) => {
                    let Ok(mut ready) = fd.readable().await else { break };
                    match ready.try_io(|f| f.get_ref().read(&mut buf)) {
                        Ok(r) => {
                            // A pipe read short of the buffer took all there was: the next
                            // read would only say so (a syscall per line, before it is sent).
                            // What arrives later is announced by the kernel anew.
                            if matches!(r, Ok(n) if n > 0 && n < buf.len()) {
                                ready.clear_ready();
                            }
                            r
                        }
                        Err(_would_block) => continue,
                    }
                }
                Source::Socket(fd) => {
                    let Ok(mut ready) = fd.readable().await else { break };
                    let got = ready.try_io(|s| {
                        rustix::net::recv(s.get_ref().as_fd(), &mut buf, RecvFlags::DONTWAIT)
                            .map(|(n, _)| n)
                            .map_err(std::io::Error::from)
                    });
                    match got {
                        Ok(r) => r,
                        Err(_would_block) => continue,
                    }
                }
            };
            let n = match read {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => continue,
                Err(_) => break,
            };
            let got = lines.push(&buf[..n]);
            if !got.is_empty() && !take(got).await {
                return;
            }
        }
        if let Some(last) = lines.finish() {
            take(vec![last]).await;
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
