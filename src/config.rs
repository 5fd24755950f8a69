//! The config file: `$XDG_CONFIG_HOME/groupcast/config.toml` (or `~/.config/...`, or
//! `--config PATH`, or `GROUPCAST_CONFIG`). It gives the values a user would otherwise type as
//! flags every time; a flag (or its environment variable) given on the command line wins.
//! `groupcast config` shows the effective values and where each came from.
//!
//! ```toml
//! name = "alice"
//! group = "225.0.0.37:12345"
//! iface = "wlan0"
//! ttl = 1
//! heartbeat = "500ms"
//! ring_port = 40000
//! key_file = "~/.config/groupcast/team.key"
//! label = "team"
//! log_size = 10000
//! log_bytes = 16777216
//! history = "~/.local/share/groupcast/history.jsonl"
//! bell = true
//! colours = "off"
//! ```

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;
use toml::Spanned;

use crate::cli::{NetArgs, parse_duration};

/// The file's keys; anything else is an error (a typo should not be ignored silently).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    name: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    iface: Option<Spanned<String>>,
    ttl: Option<Spanned<u32>>,
    heartbeat: Option<Spanned<String>>,
    ring_port: Option<Spanned<u16>>,
    key_file: Option<Spanned<String>>,
    label: Option<Spanned<String>>,
    log_size: Option<Spanned<usize>>,
    log_bytes: Option<Spanned<usize>>,
    history: Option<Spanned<String>>,
    bell: Option<Spanned<bool>>,
    colours: Option<Spanned<String>>,
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Nobody set it.
    Default,
    /// The config file, at this line.
    File(usize),
    /// A flag on the command line.
    Flag,
    /// An environment variable.
    Env,
}

/// One effective setting, as `groupcast config` prints it.
#[derive(Clone, Debug)]
pub struct Setting {
    /// Its key in the file (the flag is `--` and the key with `-` for `_`).
    pub key: &'static str,
    /// Its value, as text.
    pub value: String,
    /// Where it came from.
    pub source: Source,
}

/// The config file in use and what it set.
#[derive(Clone, Debug)]
pub struct Effective {
    /// The file looked for, and whether it was there.
    pub path: Option<PathBuf>,
    /// Whether that file exists.
    pub found: bool,
    /// Every setting the file may hold.
    pub settings: Vec<Setting>,
}

/// The file to read: `--config` / `GROUPCAST_CONFIG`, else the XDG location.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("groupcast").join("config.toml"))
}

/// Reads the config file (if any) into `net`, where the command line did not set a value.
/// `explicit` is a path the user named: it must exist. Errors are one line with the file, the
/// line and what is wrong.
pub fn apply(net: &mut NetArgs, matches: &ArgMatches, explicit: Option<&Path>) -> Result<Effective, String> {
    let path = explicit.map(Path::to_path_buf).or_else(default_path);
    let text = match &path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => None,
            Err(e) => return Err(format!("cannot read the config file {}: {e}", p.display())),
        },
        None => None,
    };
    let shown = path.as_ref().map_or_else(String::new, |p| p.display().to_string());
    let file: Keys = match &text {
        Some(t) => toml::from_str(t).map_err(|e| format!("config file {shown}: {}", one_line(&e.to_string())))?,
        None => Keys::default(),
    };
    let line_of =
        |span: std::ops::Range<usize>| text.as_deref().map_or(0, |t| t[..span.start].matches('\n').count() + 1);
    let mut settings = Vec::new();
    let source = |id: &str| match matches.value_source(id) {
        Some(ValueSource::CommandLine) => Some(Source::Flag),
        Some(ValueSource::EnvVariable) => Some(Source::Env),
        _ => None,
    };
    // For each key: the command line wins; else the file; else the default.
    macro_rules! take {
        ($key:literal, $field:ident, |$v:ident| $convert:expr, $show:expr) => {{
            let from_cli = source($key);
            let mut src = from_cli.clone().unwrap_or(Source::Default);
            if from_cli.is_none()
                && let Some(spanned) = file.$field.as_ref()
            {
                let line = line_of(spanned.span());
                let $v = spanned.get_ref().clone();
                net.$field =
                    $convert.map_err(|e: String| format!("config file {shown}, line {line}: {}: {e}", $key))?;
                src = Source::File(line);
            }
            settings.push(Setting { key: $key, value: $show(&net.$field), source: src });
        }};
    }
    take!("name", name, |v| Ok::<_, String>(Some(v)), |v: &Option<String>| v
        .clone()
        .unwrap_or_else(|| "(host name)".into()));
    take!("group", group, |v| Ok::<_, String>(v), |v: &String| v.clone());
    take!("iface", iface, |v| Ok::<_, String>(Some(v)), |v: &Option<String>| v
        .clone()
        .unwrap_or_else(|| "(the route's)".into()));
    take!("ttl", ttl, |v| Ok::<_, String>(v), |v: &u32| v.to_string());
    take!("heartbeat", heartbeat, |v| parse_duration(&v), |v: &std::time::Duration| format!("{v:?}"));
    take!("ring_port", ring_port, |v| Ok::<_, String>(v), |v: &u16| if *v == 0 {
        "(any)".into()
    } else {
        v.to_string()
    });
    take!("key_file", key_file, |v| Ok::<_, String>(Some(expand_home(&v))), |v: &Option<PathBuf>| {
        v.as_ref().map_or_else(|| "(none: an open group)".into(), |p| p.display().to_string())
    });
    take!("label", label, |v| Ok::<_, String>(Some(v)), |v: &Option<String>| v
        .clone()
        .unwrap_or_else(|| "(the group's ADDR:PORT)".into()));
    take!("log_size", log_size, |v| Ok::<_, String>(v), |v: &usize| v.to_string());
    take!("log_bytes", log_bytes, |v| Ok::<_, String>(v), |v: &usize| v.to_string());
    take!("bell", bell, |v| Ok::<_, String>(v), |v: &bool| if *v { "on".into() } else { "off".into() });
    take!(
        "colours",
        colours,
        |v| if v == "on" || v == "off" { Ok(v) } else { Err(format!("{v:?} is not on or off")) },
        |v: &String| v.clone()
    );
    take!("history", history, |v| Ok::<_, String>(Some(expand_home(&v))), |v: &Option<PathBuf>| {
        v.as_ref().map_or_else(|| "(none: the conversation is not kept)".into(), |p| p.display().to_string())
    });
    if net.label.is_some() && net.key_file.is_none() {
        return Err("label is set but key_file is not: a label only means something in a keyed group".into());
    }
    Ok(Effective { found: text.is_some(), path, settings })
}

/// A value's error, as the flag checks word it (`--ttl 300 is out of range`), told against
/// the config file's line when the file gave that value.
pub fn blame(e: &Effective, err: &str) -> String {
    let from_file = e.settings.iter().find_map(|s| {
        let flag = format!("--{}", s.key.replace('_', "-"));
        match s.source {
            Source::File(line) if err.starts_with(&flag) => Some((flag.len(), s.key, line)),
            // The key file's own errors name the file, not the flag.
            Source::File(line) if s.key == "key_file" && err.starts_with("key file ") => Some((0, s.key, line)),
            _ => None,
        }
    });
    match (from_file, &e.path) {
        (Some((0, key, line)), Some(path)) => format!("config file {}, line {line} ({key}): {err}", path.display()),
        (Some((skip, key, line)), Some(path)) => {
            format!("config file {}, line {line}: {key}{}", path.display(), &err[skip..])
        }
        _ => err.to_string(),
    }
}

/// `~/x` as the user means it.
fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// toml's multi-line error (with a caret under the spot) as one line.
fn one_line(e: &str) -> String {
    let mut lines = e.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('|') && *l != "^");
    let first = lines.next().unwrap_or_default().to_string();
    let rest: Vec<&str> = lines.filter(|l| !l.contains('|')).collect();
    if rest.is_empty() { first } else { format!("{first}: {}", rest.join(" ")) }
}

/// What `groupcast config` prints.
pub fn describe(e: &Effective) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = match &e.path {
        Some(p) if e.found => writeln!(s, "config file: {}", p.display()),
        Some(p) => writeln!(s, "config file: {} (not there: defaults and flags only)", p.display()),
        None => writeln!(s, "config file: none (no HOME or XDG_CONFIG_HOME)"),
    };
    // The values' column as wide as its widest value, so every source lines up.
    let width = e.settings.iter().map(|st| st.value.chars().count()).max().unwrap_or(0).max(24);
    for st in &e.settings {
        let from = match st.source {
            Source::Default => "default".to_string(),
            Source::File(line) => format!("config file, line {line}"),
            Source::Flag => format!("--{}", st.key.replace('_', "-")),
            Source::Env => "environment".to_string(),
        };
        // A key file named (not the default: an open group) that is not there is marked.
        let missing = st.key == "key_file" && st.source != Source::Default && !expand_home(&st.value).exists();
        let from = if missing { format!("{from}  <- no such file") } else { from };
        let _ = writeln!(s, "{:<10} {:<width$} {from}", st.key, st.value);
    }
    s
}
