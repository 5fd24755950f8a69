//! Shell integration: the completion scripts and the manual page, as a user installs them.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_groupcast");

fn groupcast(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("run groupcast");
    assert!(out.status.success(), "groupcast {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// What bash offers after `words` (the last one being completed), with the script loaded.
fn bash_offers(script: &str, words: &[&str]) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("groupcast-completion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("groupcast.bash");
    std::fs::write(&path, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let probe = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; \
         _groupcast groupcast '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash").arg("-c").arg(&probe).output().expect("run bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_commands_and_options() {
    let script = groupcast(&["completions", "bash"]);
    let commands = bash_offers(&script, &["groupcast", ""]);
    for c in ["node", "send", "keygen", "completions", "man"] {
        assert!(commands.iter().any(|o| o == c), "{c} not offered: {commands:?}");
    }
    let node = bash_offers(&script, &["groupcast", "node", "--i"]);
    assert_eq!(node, vec!["--iface"], "after `node --i`");
    let shells = bash_offers(&script, &["groupcast", "completions", "z"]);
    assert_eq!(shells, vec!["zsh"]);
    // Interface names after --iface (read from the host when completing), never file names.
    let ifaces = bash_offers(&script, &["groupcast", "node", "--iface", "l"]);
    assert!(ifaces.iter().any(|o| o == "lo"), "interfaces after --iface: {ifaces:?}");
    assert!(ifaces.iter().all(|o| std::path::Path::new("/sys/class/net").join(o).exists()), "{ifaces:?}");
    // The commands with a page after `man`.
    let pages = bash_offers(&script, &["groupcast", "man", "d"]);
    assert_eq!(pages, vec!["doctor"], "after `man d`");
}

#[test]
fn every_shell_gets_a_script_that_names_the_commands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = groupcast(&["completions", shell]);
        for word in ["node", "keygen", "ring-port"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let out = Command::new(BIN).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn the_manual_page_describes_the_commands_and_options() {
    let page = groupcast(&["man"]);
    assert!(page.starts_with(".ie") || page.contains(".TH groupcast 1"), "{page}");
    assert!(page.contains(".TH groupcast 1"));
    for word in ["SUBCOMMANDS", "groupcast\\-node", "\\-\\-key\\-file", "225.0.0.37:12345"] {
        assert!(page.contains(word), "no {word} in the page");
    }
}

#[test]
fn each_command_has_the_page_the_main_page_points_to() {
    let main = groupcast(&["man"]);
    for cmd in ["node", "send", "doctor", "config", "keygen"] {
        assert!(main.contains(&format!("groupcast\\-{cmd}(1)")), "the main page names groupcast-{cmd}(1)");
        let page = groupcast(&["man", cmd]);
        assert!(page.contains(&format!(".TH groupcast-{cmd} 1")), "{cmd}: {page}");
    }
    assert!(groupcast(&["man", "doctor"]).contains("\\-\\-listen"));
    for page in [main, groupcast(&["man", "node"])] {
        for section in [".SH FILES", ".SH ENVIRONMENT", ".SH EXAMPLES", "GROUPCAST_KEY_FILE", "config.toml"] {
            assert!(page.contains(section), "no {section} in the page");
        }
    }
    let out = Command::new(BIN).args(["man", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `send --help` lists the options a one-shot sender uses, not the node's detector, ring and
/// screen options (which it still takes, as a config file may give them).
#[test]
fn each_commands_help_lists_only_its_options() {
    let help = groupcast(&["send", "--help"]);
    for shown in ["--plain", "--group", "--iface", "--ttl", "--name", "--key-file", "--label"] {
        assert!(help.contains(shown), "send --help lacks {shown}:\n{help}");
    }
    for hidden in ["--heartbeat", "--phi-threshold", "--ring-port", "--log-size", "--history", "--bell", "--colours"] {
        assert!(!help.contains(hidden), "send --help lists {hidden}:\n{help}");
    }
    assert!(groupcast(&["node", "--help"]).contains("--heartbeat"), "node keeps its own");
    let out = Command::new(BIN).args(["send", "--heartbeat", "1s", "--help"]).output().unwrap();
    assert!(out.status.success(), "a hidden option is still taken");
}
