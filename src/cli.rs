//! Command-line definitions (clap) and their translation into plain configuration.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::net::NetConfig;
use crate::proto::{self, DetectorConfig};

#[derive(Debug, Parser)]
#[command(
    name = "groupcast",
    version,
    about = "Multicast group chat and a small self-healing cluster for people who share a LAN",
    long_about = "Multicast group chat and a small self-healing cluster for people who share a LAN.\n\n\
        Every node heartbeats on a multicast group, keeps a table of peers, and converges on the \
        group's shared message and an ordered chat log. Old clients that multicast bare text \
        (the original C system) are heard too.\n\n\
        Without a command, groupcast opens the terminal UI (F1 there lists every key).",
    args_conflicts_with_subcommands = true
)]
/// The whole command line.
pub struct Cli {
    /// What to run; none opens the terminal UI.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// How to reach the group, for the terminal UI.
    #[command(flatten)]
    pub net: NetArgs,
    /// The config file to read instead of `$XDG_CONFIG_HOME/groupcast/config.toml` (flags
    /// override what it says).
    #[arg(long, value_name = "PATH", env = "GROUPCAST_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

impl Cli {
    /// The options every joining command takes, and the argument matches they came from
    /// (to tell a flag given from a default), for the command given.
    pub fn net_mut<'a>(&'a mut self, matches: &'a clap::ArgMatches) -> Option<(&'a mut NetArgs, &'a clap::ArgMatches)> {
        match (&mut self.command, matches.subcommand()) {
            (None, _) => Some((&mut self.net, matches)),
            (
                Some(
                    Command::Node { net, .. }
                    | Command::Send { net, .. }
                    | Command::Doctor { net, .. }
                    | Command::Config { net },
                ),
                Some((_, sub)),
            ) => Some((net, sub)),
            _ => None,
        }
    }
}

/// The commands other than the terminal UI.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a headless node: print one line per event, broadcast each line read from stdin.
    ///
    /// Lines starting with '/' are commands: /state prints the node's state (peers, shared
    /// message, log digest), /name NEW renames this node, /quit leaves the group and exits.
    /// End of stdin does not stop the node; Ctrl-C or SIGTERM leaves the group and exits 0.
    Node {
        /// Print JSON objects (one per line, each with an "event" field) instead of text.
        #[arg(long)]
        json: bool,
        /// How to reach the group.
        #[command(flatten)]
        net: NetArgs,
    },
    /// Multicast one message to the group and exit.
    Send {
        /// Send bare text with a trailing newline, as the original C client did, for old listeners.
        #[arg(long)]
        plain: bool,
        /// The message; several words are joined with spaces.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        /// How to reach the group.
        #[command(flatten)]
        net: NetArgs,
    },
    /// Write a new random group key to PATH (readable by you only). Give the same file to
    /// every member with --key-file: the group is then sealed, and no one without it can read
    /// or forge its datagrams.
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        path: PathBuf,
    },
    /// Find out why no peer appears: check the interfaces and routes, join the group for a
    /// few seconds, and say what was heard (this node itself, peers with loss and whether
    /// their ring ports answer, old clients), each problem with a one-line fix. Exits 0 only
    /// when the group works on the chosen interface, 1 when it does not.
    Doctor {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// How long to listen for peers.
        #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
        listen: Duration,
        /// How to reach the group.
        #[command(flatten)]
        net: NetArgs,
    },
    /// Print the effective settings and where each came from (default, the config file and
    /// its line, a flag, the environment).
    Config {
        /// Flags to try against the file: they win, as they would for the other commands.
        #[command(flatten)]
        net: NetArgs,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
    ///
    /// For bash: `groupcast completions bash > ~/.local/share/bash-completion/completions/groupcast`;
    /// for zsh, into a directory on your $fpath as `_groupcast`; for fish:
    /// `groupcast completions fish > ~/.config/fish/completions/groupcast.fish`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `groupcast man > ~/.local/share/man/man1/groupcast.1`;
    /// `groupcast man doctor` prints groupcast-doctor(1), and so on for each command.
    Man {
        /// The command whose page to print (none: groupcast(1)).
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(MAN_PAGES))]
        command: Option<String>,
    },
}

/// The command line as clap builds it, with each subcommand's `--help` (and completions and man
/// page) listing only the options that apply to it: the others are still taken (a config file
/// may give them) but not shown.
pub fn command() -> clap::Command {
    const NODE_ONLY: [&str; 9] = [
        "ring_port",
        "heartbeat",
        "phi_threshold",
        "phi_suspect",
        "min_std_dev",
        "acceptable_pause",
        "max_clock_ahead",
        "log_size",
        "log_bytes",
    ];
    const SCREEN_ONLY: [&str; 3] = ["bell", "colours", "history"];
    let hide = |mut c: clap::Command, names: &[&str]| {
        for n in names {
            c = c.mut_arg(*n, |a| a.hide(true));
        }
        c
    };
    <Cli as clap::CommandFactory>::command()
        .mut_subcommand("send", |s| hide(hide(s, &NODE_ONLY), &SCREEN_ONLY))
        .mut_subcommand("doctor", |s| hide(s, &SCREEN_ONLY))
}

/// The completion script for `shell`, as `groupcast completions` prints it. Bash offers the
/// host's interface names after --iface, read when completing (clap's script would offer file
/// names).
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "groupcast", &mut out);
    if shell != clap_complete::Shell::Bash {
        return out;
    }
    let script = String::from_utf8_lossy(&out).into_owned();
    let files = "--iface)\n                    COMPREPLY=($(compgen -f \"${cur}\"))";
    let names =
        "--iface)\n                    COMPREPLY=($(compgen -W \"$(ls /sys/class/net 2>/dev/null)\" -- \"${cur}\"))";
    script.replace(files, names).into_bytes()
}

/// The commands `groupcast man` has a page for, besides groupcast(1) itself.
const MAN_PAGES: [&str; 6] = ["node", "send", "doctor", "config", "keygen", "completions"];

/// The manual page, as `groupcast man [COMMAND]` prints it; `None` if there is no such command.
pub fn man_page(command: Option<&str>) -> std::io::Result<Option<Vec<u8>>> {
    let top = self::command();
    let page = match command {
        None => top,
        Some(name) => {
            let Some(sub) = top.find_subcommand(name) else { return Ok(None) };
            // Named as the top page refers to it: groupcast-doctor(1).
            sub.clone().name(format!("groupcast-{name}")).version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    out.extend_from_slice(MAN_MORE.as_bytes());
    Ok(Some(out))
}

/// The sections every page ends with, in roff: the files and environment groupcast reads, and
/// examples a new user can type.
const MAN_MORE: &str = r#".SH FILES
.TP
\fI$XDG_CONFIG_HOME/groupcast/config.toml\fR (else \fI~/.config/groupcast/config.toml\fR)
The config file: the values a flag would give (name, group, iface, ttl, heartbeat, ring_port,
key_file, label, log_size, log_bytes, history, bell, colours). A flag wins over it; \fBgroupcast
config\fR prints where each value came from.
.TP
\fIPATH\fR of \fB\-\-key\-file\fR
The group key (64 hex digits, readable by its owner only); \fBgroupcast keygen PATH\fR makes one.
.TP
\fIPATH\fR of \fB\-\-history\fR
The conversation kept across runs, one JSON line per message.
.SH ENVIRONMENT
.TP
\fBGROUPCAST_CONFIG\fR
The config file to read instead of the usual one (as \fB\-\-config\fR).
.TP
\fBGROUPCAST_KEY_FILE\fR
The group key file (as \fB\-\-key\-file\fR).
.TP
\fBXDG_CONFIG_HOME\fR, \fBHOME\fR
Where the config file is looked for.
.TP
\fBNO_COLOR\fR
Set: the terminal UI uses no colours.
.SH EXAMPLES
.TP
\fBgroupcast \-\-name alice\fR
Open the terminal UI in the default group (225.0.0.37:12345) on the interface of the route to it.
.TP
\fBgroupcast keygen ~/.config/groupcast/team.key\fR, then \fBgroupcast \-\-key\-file ~/.config/groupcast/team.key\fR
A keyed group: only holders of the key read or join it.
.TP
\fBgroupcast node \-\-json \-\-name build1\fR
A headless node: each event a JSON line on stdout; each line on stdin a message.
.TP
\fBgroupcast send \-\-plain "deploy done"\fR
One line as an old client sends it (bare text).
.TP
\fBgroupcast doctor\fR
Why no peer appears: interfaces, routes, firewall, and a few seconds as a node.
"#;

/// How to reach the group and how the node behaves: the options every command that joins takes.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Multicast group and port: IPv4 (225.0.0.37:12345) or IPv6 (`[ff15::37]:12345`; a
    /// link-local group such as `[ff12::37]:12345` needs --iface).
    #[arg(long, value_name = "ADDR:PORT", default_value = "225.0.0.37:12345")]
    pub group: String,
    /// Interface to join the group on: an address or an interface name (eth0).
    /// Default: the interface of the route to the group.
    #[arg(long, value_name = "ADDRESS|NAME")]
    pub iface: Option<String>,
    /// TCP port for ring links from the neighbours (for firewall rules). Default: one the
    /// system picks.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub ring_port: u16,
    /// Multicast TTL: 1 keeps datagrams on the local network, 0 on this host.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub ttl: u32,
    /// Name shown to peers. Default: the host name.
    #[arg(long)]
    pub name: Option<String>,
    /// Interval between heartbeats (e.g. 500ms, 1s).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// Failure detector: phi at which a silent peer is declared down.
    #[arg(long, value_name = "PHI", default_value_t = 8.0)]
    pub phi_threshold: f64,
    /// Failure detector: phi at which a silent peer becomes suspect.
    #[arg(long, value_name = "PHI", default_value_t = 2.0)]
    pub phi_suspect: f64,
    /// Failure detector: floor for the heartbeat interval's standard deviation.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub min_std_dev: Duration,
    /// Failure detector: silence tolerated on top of the mean heartbeat interval.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub acceptable_pause: Duration,
    /// A received timestamp moves this node's clock forward at most this far (frames stamped
    /// further ahead are still taken; only the clock is held back).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub max_clock_ahead: Duration,
    /// Retention: messages kept in the ordered log and offered to peers that missed them
    /// (oldest dropped first, and counted).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub log_size: usize,
    /// Retention in bytes of message text (a fixed 64 bytes more counted per message).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub log_bytes: usize,
    /// A keyed group: seal every datagram and link frame with the key in PATH (made by
    /// `groupcast keygen`). Members without the same key and label do not hear the group.
    #[arg(long, value_name = "PATH", env = "GROUPCAST_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// The label bound into every seal of a keyed group. Default: the group's ADDR:PORT, so
    /// two groups that share a key stay apart.
    #[arg(long, value_name = "TEXT", requires = "key_file")]
    pub label: Option<String>,
    /// The terminal UI rings the bell when a message names you, from the start (/bell toggles).
    #[arg(long)]
    pub bell: bool,
    /// Colours in the terminal UI: on, or off (the terminal's own colours only; also when
    /// `NO_COLOR` is set).
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = ["on", "off"])]
    pub colours: String,
    /// Keep the conversation in PATH (JSON lines, as /save writes them): the terminal UI shows
    /// what it holds when it opens and adds every message; `groupcast node` adds every message
    /// it prints. A message already kept is never added twice. (send and doctor ignore it.)
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
}

/// "500ms", "2s", "1.5s", "1m"; a bare number is milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "ms"),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("not a duration: {s:?} (try 500ms or 2s)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (use ms, s or m)")),
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("duration out of range: {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn check_group_v4(ip: Ipv4Addr) -> Result<(), String> {
    if !ip.is_multicast() {
        return Err(format!(
            "--group {ip} is not a multicast address: use one in 224.0.0.0/4, for example 225.0.0.37:12345"
        ));
    }
    if ip.octets()[..3] == [224, 0, 0] {
        return Err(format!(
            "--group {ip}: 224.0.0.0/24 is reserved for routing protocols on the local link; \
             use an address in 225.0.0.0 to 239.255.255.255, for example 225.0.0.37:12345"
        ));
    }
    Ok(())
}

/// An IPv6 group must be a transient one (`ff1X::`, not a permanent address IANA gives out,
/// such as `ff02::1` for all nodes) of link-local scope or wider.
fn check_group_v6(ip: Ipv6Addr) -> Result<(), String> {
    let first = ip.segments()[0];
    if !ip.is_multicast() {
        return Err(format!(
            "--group [{ip}] is not a multicast address: use one in ff00::/8, for example [ff15::37]:12345"
        ));
    }
    if first & 0x0010 == 0 {
        return Err(format!(
            "--group [{ip}] is a permanent, assigned multicast address; use a transient one (ff1X::), \
             for example [ff15::37]:12345, or [ff12::37]:12345 on one link"
        ));
    }
    if first & 0x000f < 2 {
        return Err(format!(
            "--group [{ip}] never leaves this host (interface-local scope); use [ff12::37]:12345 for one \
             link or [ff15::37]:12345 for a site"
        ));
    }
    Ok(())
}

impl NetArgs {
    /// The network settings, or one line saying what is wrong.
    pub fn net_config(&self) -> Result<NetConfig, String> {
        let group: SocketAddr = self.group.parse().map_err(|_| {
            format!(
                "--group {:?} is not ADDR:PORT (for example 225.0.0.37:12345, or [ff15::37]:12345 for IPv6)",
                self.group
            )
        })?;
        match group {
            SocketAddr::V4(g) => check_group_v4(*g.ip())?,
            SocketAddr::V6(g) => check_group_v6(*g.ip())?,
        }
        if group.port() == 0 {
            return Err("--group needs a port other than 0".into());
        }
        if self.ttl > 255 {
            return Err(format!("--ttl {} is out of range 0..=255", self.ttl));
        }
        Ok(NetConfig { group, iface: self.iface.clone(), ttl: self.ttl, ring_port: self.ring_port })
    }

    /// The node's settings, or one line saying what is wrong.
    pub fn proto_config(&self) -> Result<proto::Config, String> {
        let name = match &self.name {
            Some(n) => proto::Name::new(n).map_err(|e| format!("--name: {e}"))?,
            // A host name is taken as it comes, in the form every node keeps.
            None => proto::Name::clip(&gethostname::gethostname().to_string_lossy()),
        };
        if self.heartbeat < Duration::from_millis(10) {
            return Err("--heartbeat must be at least 10ms".into());
        }
        if self.max_clock_ahead.is_zero() {
            return Err("--max-clock-ahead must be above zero (a clock that may never move forward stops)".into());
        }
        if self.min_std_dev.is_zero() {
            return Err("--min-std-dev must be above zero (the failure detector divides by it)".into());
        }
        if !(self.phi_suspect > 0.0 && self.phi_suspect < self.phi_threshold) {
            return Err("--phi-suspect must be above 0 and below --phi-threshold".into());
        }
        if self.log_size == 0 || self.log_bytes < 4096 {
            return Err("--log-size must be at least 1 and --log-bytes at least 4096".into());
        }
        let key = match &self.key_file {
            Some(path) => {
                let key = crate::keyfile::load(path)?;
                let label = self.label.clone().unwrap_or_else(|| self.group.clone());
                Some(proto::GroupKey::new(&key, &label))
            }
            None => None,
        };
        Ok(proto::Config {
            name,
            key,
            heartbeat: self.heartbeat,
            detector: DetectorConfig {
                suspect_phi: self.phi_suspect,
                down_phi: self.phi_threshold,
                min_std_dev: self.min_std_dev,
                acceptable_pause: self.acceptable_pause,
                ..DetectorConfig::default()
            },
            max_clock_ahead: self.max_clock_ahead,
            log_capacity: self.log_size,
            log_bytes: self.log_bytes,
            ..proto::Config::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(args: &[&str]) -> NetArgs {
        let mut v = vec!["groupcast", "node"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).unwrap().command {
            Some(Command::Node { net, .. }) => net,
            _ => unreachable!(),
        }
    }

    #[test]
    fn defaults_are_the_original_systems_group() {
        let n = net(&[]).net_config().unwrap();
        assert_eq!(n.group, "225.0.0.37:12345".parse().unwrap());
        assert_eq!(n.ttl, 1);
        assert_eq!(n.iface, None);
        assert_eq!(net(&[]).proto_config().unwrap().heartbeat, Duration::from_millis(500));
    }

    #[test]
    fn bad_groups_say_what_to_do() {
        let e = net(&["--group", "10.0.0.1:5000"]).net_config().unwrap_err();
        assert!(e.contains("not a multicast address"), "{e}");
        let e = net(&["--group", "nonsense"]).net_config().unwrap_err();
        assert!(e.contains("ADDR:PORT"), "{e}");
        let e = net(&["--group", "224.0.0.5:12345"]).net_config().unwrap_err();
        assert!(e.contains("reserved for routing protocols") && e.contains("225.0.0.37"), "{e}");
        assert!(net(&["--group", "224.0.1.5:12345"]).net_config().is_ok(), "only the /24 is reserved");
    }

    #[test]
    fn zero_durations_that_would_break_the_clock_or_the_detector_are_refused() {
        let e = net(&["--max-clock-ahead", "0ms"]).proto_config().unwrap_err();
        assert!(e.contains("--max-clock-ahead"), "{e}");
        let e = net(&["--min-std-dev", "0"]).proto_config().unwrap_err();
        assert!(e.contains("--min-std-dev"), "{e}");
    }

    #[test]
    fn a_key_file_makes_the_group_keyed_and_the_label_defaults_to_the_group() {
        let dir = std::env::temp_dir().join(format!("groupcast-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k");
        let _ = std::fs::remove_file(&path);
        crate::keyfile::generate(&path).unwrap();
        let p = path.to_str().unwrap();
        let cfg = net(&["--key-file", p]).proto_config().unwrap();
        assert_eq!(cfg.key.as_ref().unwrap().label(), "225.0.0.37:12345");
        let cfg = net(&["--key-file", p, "--label", "team"]).proto_config().unwrap();
        assert_eq!(cfg.key.as_ref().unwrap().label(), "team");
        assert!(net(&[]).proto_config().unwrap().key.is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
