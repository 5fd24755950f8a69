//! What a line typed in the compose box means, worked out before anything runs: a message to
//! send, or a slash command with its argument checked.

use crate::proto::Name;

/// A slash command, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Slash {
    /// `/help`: the help page.
    Help,
    /// `/clear`: empty the messages pane (the node keeps its log).
    Clear,
    /// `/quit` or `/exit`: leave the group and close.
    Quit,
    /// `/me ACTION`: say what you do.
    Me(String),
    /// `/drops`: what was refused so far, by reason.
    Drops,
    /// `/bell`: ring the bell when a message names you, or stop.
    Bell,
    /// `/save PATH`: write the messages here to `PATH` (`~/` is the home directory).
    Save(String),
    /// `/name NEW`: take another name.
    Name(Name),
}

/// A line from the compose box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Typed {
    /// Nothing but blanks: nothing to do.
    Blank,
    /// A message to send, as it is to go out (`//text` is sent as `/text`).
    Say(String),
    /// A slash command.
    Command(Slash),
}

/// What `line` means; a command that cannot run (unknown, or missing or bad argument) is the
/// refusal to show on the compose box.
pub(super) fn parse(line: &str) -> Result<Typed, String> {
    if line.trim().is_empty() {
        return Ok(Typed::Blank);
    }
    // `//text` sends `/text`: a line that starts with a slash but is not a command.
    if let Some(rest) = line.strip_prefix("//") {
        return Ok(Typed::Say(format!("/{rest}")));
    }
    let Some(cmd) = line.trim().strip_prefix('/') else { return Ok(Typed::Say(line.to_string())) };
    let (word, arg) = cmd.split_once(' ').map_or((cmd, ""), |(w, a)| (w, a.trim()));
    let slash = match word {
        "help" => Slash::Help,
        "clear" => Slash::Clear,
        "quit" | "exit" => Slash::Quit,
        "drops" => Slash::Drops,
        "bell" => Slash::Bell,
        "me" if !arg.is_empty() => Slash::Me(arg.to_string()),
        "save" if !arg.is_empty() => Slash::Save(arg.to_string()),
        "me" => return Err("usage: /me ACTION".to_string()),
        "save" => return Err("usage: /save PATH".to_string()),
        "name" => Slash::Name(Name::new(arg).map_err(|e| format!("usage: /name NEW ({e})"))?),
        _ => return Err(format!("unknown command /{word}: try /help")),
    };
    Ok(Typed::Command(slash))
}

/// Where `/save PATH` writes: `~/` at the start is `home`.
pub(super) fn save_path(arg: &str, home: Option<std::ffi::OsString>) -> std::path::PathBuf {
    match (arg.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(arg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_what_they_mean() {
        assert_eq!(parse("  "), Ok(Typed::Blank));
        assert_eq!(parse("hello /there"), Ok(Typed::Say("hello /there".into())));
        assert_eq!(parse("//etc/hosts"), Ok(Typed::Say("/etc/hosts".into())));
        assert_eq!(parse("/me waves  "), Ok(Typed::Command(Slash::Me("waves".into()))));
        assert_eq!(parse(" /quit"), Ok(Typed::Command(Slash::Quit)));
        assert_eq!(parse("/exit"), Ok(Typed::Command(Slash::Quit)));
        assert_eq!(parse("/name bob"), Ok(Typed::Command(Slash::Name(Name::new("bob").unwrap()))));
        assert_eq!(parse("/me"), Err("usage: /me ACTION".into()));
        assert_eq!(parse("/save"), Err("usage: /save PATH".into()));
        assert!(parse("/name").unwrap_err().starts_with("usage: /name NEW ("));
        assert_eq!(parse("/bogus x"), Err("unknown command /bogus: try /help".into()));
        let home = Some(std::ffi::OsString::from("/home/a"));
        assert_eq!(save_path("~/chat.jsonl", home.clone()), std::path::PathBuf::from("/home/a/chat.jsonl"));
        assert_eq!(save_path("chat.jsonl", home), std::path::PathBuf::from("chat.jsonl"));
    }
}
