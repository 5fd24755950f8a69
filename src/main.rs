//! CLI dispatch only.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use groupcast::cli::{Cli, Command};
use groupcast::error::UserError;
use groupcast::headless;

/// A task panicked: the process ends when its front end sees the node gone, and must not say
/// it succeeded (a supervisor restarts only what failed).
static PANICKED: AtomicBool = AtomicBool::new(false);
/// `groupcast doctor` found that the group does not work here: exit 1.
static DOCTOR_FOUND_PROBLEMS: AtomicBool = AtomicBool::new(false);

/// The command line, with the config file filling in what it did not say (a broken file is one
/// line and exit 2).
fn command_line() -> Result<(Cli, Option<groupcast::config::Effective>), ExitCode> {
    let matches = groupcast::cli::command().get_matches();
    let mut cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let explicit = cli.config.clone();
    let effective = match cli.net_mut(&matches) {
        Some((net, m)) => match groupcast::config::apply(net, m, explicit.as_deref()) {
            Ok(e) => Some(e),
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "groupcast: {e}");
                return Err(ExitCode::from(UserError::Usage(String::new()).exit_code()));
            }
        },
        None => None,
    };
    Ok((cli, effective))
}

fn main() -> ExitCode {
    if let Err(e) = color_eyre::install() {
        eprintln!("groupcast: {e}");
    }
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        report(info);
    }));
    let (cli, effective) = match command_line() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("groupcast: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        // A bad value is told against the config file's line when the file gave it.
        let usage = |e: String| {
            UserError::Usage(effective.as_ref().map_or_else(|| e.clone(), |eff| groupcast::config::blame(eff, &e)))
        };
        match cli.command {
            None => {
                let netcfg = cli.net.net_config().map_err(usage)?;
                let cfg = cli.net.proto_config().map_err(usage)?;
                let colours = cli.net.colours == "on" && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
                let prefs = groupcast::tui::app::Prefs { mouse: true, bell: cli.net.bell, colours };
                groupcast::tui::run(netcfg, cfg, cli.net.history.clone(), prefs).await
            }
            Some(Command::Node { json, net }) => {
                let netcfg = net.net_config().map_err(usage)?;
                let cfg = net.proto_config().map_err(usage)?;
                // A task of its own, not the runtime's main future: the runtime then wakes it
                // from the network task without an extra poll of the sockets per event.
                match tokio::spawn(headless::run_node(netcfg, cfg, json, net.history.clone())).await {
                    Ok(r) => r,
                    Err(e) => Err(color_eyre::eyre::eyre!("the node's task ended: {e}")),
                }
            }
            Some(Command::Keygen { path }) => {
                groupcast::keyfile::generate(&path).map_err(usage)?;
                println!("wrote a new group key to {}; give it to every member with --key-file", path.display());
                Ok(())
            }
            Some(Command::Doctor { json, listen, net }) => {
                let netcfg = net.net_config().map_err(usage)?;
                let cfg = net.proto_config().map_err(usage)?;
                if !groupcast::doctor::run(netcfg, cfg, listen, json).await? {
                    DOCTOR_FOUND_PROBLEMS.store(true, Ordering::SeqCst);
                }
                Ok(())
            }
            Some(Command::Config { net }) => {
                // The table first, whatever is wrong with it (a missing key file is marked in
                // it); then the values must make a working node, as for the other commands.
                let checked = net.net_config().and_then(|_| net.proto_config().map(|_| ()));
                if let Some(e) = &effective {
                    print!("{}", groupcast::config::describe(e));
                }
                checked.map_err(usage)?;
                Ok(())
            }
            Some(Command::Completions { shell }) => {
                std::io::stdout().write_all(&groupcast::cli::completions(shell))?;
                Ok(())
            }
            Some(Command::Man { command }) => match groupcast::cli::man_page(command.as_deref())? {
                Some(page) => {
                    std::io::stdout().write_all(&page)?;
                    Ok(())
                }
                None => {
                    Err(usage(format!("no command {:?}: try groupcast --help", command.unwrap_or_default())).into())
                }
            },
            Some(Command::Send { plain, text, net }) => {
                let netcfg = net.net_config().map_err(usage)?;
                let cfg = net.proto_config().map_err(usage)?;
                headless::run_send(netcfg, cfg, text.join(" "), plain).await
            }
        }
    });
    // A blocking read of stdin may still be pending; it must not hold the exit.
    rt.shutdown_background();
    if PANICKED.load(Ordering::SeqCst) {
        return ExitCode::from(101);
    }
    if DOCTOR_FOUND_PROBLEMS.load(Ordering::SeqCst) && result.is_ok() {
        return ExitCode::from(1);
    }
    let Err(report) = result else { return ExitCode::SUCCESS };
    // stderr may be gone too (a closed terminal): never panic over it.
    let mut err = std::io::stderr();
    if let Some(e) = report.downcast_ref::<UserError>() {
        let _ = writeln!(err, "groupcast: {e}");
        ExitCode::from(e.exit_code())
    } else {
        let _ = writeln!(err, "groupcast: unexpected error: {report:?}");
        ExitCode::FAILURE
    }
}
