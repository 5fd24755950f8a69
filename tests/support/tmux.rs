//! A TUI running in tmux inside a namespaced host: type into it, read its screen.

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::lan::{BIN, Host};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub(crate) struct Screen {
    socket: String,
}

/// Whether tmux can be used; with `GROUPCAST_REQUIRE_NETNS=1` its absence fails the test.
pub(crate) fn available() -> bool {
    let ok = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("GROUPCAST_REQUIRE_NETNS").as_deref() != Ok("1"), "tmux is needed for the TUI tests");
        super::lan::skipped("tmux is not installed");
    }
    ok
}

impl Screen {
    /// Opens `groupcast ARGS` in a `cols`×`rows` tmux session inside `host`.
    pub(crate) fn open(host: &Host, args: &[&str], cols: u16, rows: u16) -> Screen {
        let mut cmd = vec![BIN.to_string()];
        cmd.extend(args.iter().map(std::string::ToString::to_string));
        Self::open_command(host, &cmd.join(" "), cols, rows)
    }

    /// Runs `groupcast ARGS` in a terminal, then prints `exit=N` and keeps the pane open, so a
    /// test can read what it left on the screen.
    pub(crate) fn run_then_show(host: &Host, args: &[&str], cols: u16, rows: u16) -> Screen {
        let cmd = format!("sh -c '{BIN} {}; echo exit=$?; sleep 60'", args.join(" "));
        Self::open_command(host, &cmd, cols, rows)
    }

    fn open_command(host: &Host, cmd: &str, cols: u16, rows: u16) -> Screen {
        let socket = format!("gc{}t{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let status = Command::new("ip")
            .args(["netns", "exec", &host.ns, "tmux", "-L", &socket, "new-session", "-d", "-s", "main"])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .arg(cmd)
            .env("TERM", "xterm-256color")
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        let s = Screen { socket };
        s.tmux(&["set-option", "-t", "main", "remain-on-exit", "on"]);
        s
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket]).args(args).output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen as text.
    pub(crate) fn text(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "main"])
    }

    /// The screen with colours, as escape sequences (for screenshots).
    pub(crate) fn ansi(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "main"])
    }

    pub(crate) fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    /// Keys by tmux name: Enter, C-c, F1, `PPage`...
    pub(crate) fn key(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "main", key]);
    }

    /// Pastes `text` as a terminal would: tmux wraps it in bracketed-paste codes if the program
    /// asked for them, and otherwise types it (newlines as Enter).
    pub(crate) fn paste(&self, text: &str) {
        self.tmux(&["set-buffer", "-b", "gcpaste", "--", text]);
        self.tmux(&["paste-buffer", "-p", "-d", "-b", "gcpaste", "-t", "main"]);
    }

    /// Ends the tmux server: the program's terminal closes under it, as when a terminal window
    /// is closed.
    pub(crate) fn kill_server(&self) {
        self.tmux(&["kill-server"]);
    }

    /// Waits until the screen contains `what`, and returns the screen.
    pub(crate) fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |s| s.contains(what))
    }

    pub(crate) fn wait_until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.text();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < end, "screen never showed {what:?}; it shows:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the program in the pane has exited.
    pub(crate) fn exited(&self) -> bool {
        self.tmux(&["display-message", "-p", "-t", "main", "#{pane_dead}"]).trim() == "1"
    }

    pub(crate) fn pid(&self) -> String {
        self.tmux(&["display-message", "-p", "-t", "main", "#{pane_pid}"]).trim().to_string()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}
