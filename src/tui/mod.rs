//! The terminal UI: `app` (model and update), `view` (pure render), and here the loop that
//! feeds terminal and network events to `update`, coalesces redraws, and restores the terminal
//! on every way out.

pub mod app;
mod command;
pub mod composer;
pub mod help;
pub mod messages;
pub mod peers;
pub mod status;
pub mod view;
mod wrap;

use std::io::{Write, stdout};
use std::time::Duration;

use futures::StreamExt;
use ratatui::DefaultTerminal;
use std::io::IsTerminal;

use color_eyre::eyre::WrapErr;

use ratatui::crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, EventStream,
};
use ratatui::crossterm::execute;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::error::UserError;
use crate::history::{self, History};
use crate::net::{self, NetConfig, NodeHandle, start_node_when_up};
use crate::proto::{self, Command};
use app::{Action, App, Msg, update};
use std::path::PathBuf;

/// At most this many redraws a second; only when something changed.
const FRAME: Duration = Duration::from_millis(16);
/// Network events taken in one go before the screen gets a chance to redraw.
const BATCH: usize = 2048;

/// Runs the terminal UI until the user quits or the terminal goes away. A user's mistake comes
/// back as a `UserError`; anything else is unexpected.
pub async fn run(
    netcfg: NetConfig,
    cfg: proto::Config,
    history: Option<PathBuf>,
    prefs: app::Prefs,
) -> color_eyre::Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(UserError::NoTerminal.into());
    }
    // The conversation kept across runs: a path that cannot be read or written is one line.
    let kept = match &history {
        Some(p) => Some(History::open(p).map_err(UserError::Usage)?),
        None => None,
    };
    // Join first: a setup error is printed on a normal terminal, as one line.
    // Started before the network is up: say so on the plain terminal and wait for it.
    let group = netcfg.group;
    let waiting = |e: &crate::net::SetupError| {
        // On an IPv6-only host the IPv4 group will never come: that is the one thing to say.
        let why = net::socket::family_hint(group).unwrap_or_else(|| e.to_string());
        eprintln!(
            "groupcast: waiting for the network ({why}); it joins when the network is up, Ctrl-C quits \
             (`groupcast doctor` says why)"
        );
    };
    let mut node = start_node_when_up(&netcfg, cfg, None, waiting).await.map_err(UserError::from)?;
    let mut terminal = ratatui::try_init().wrap_err("cannot set up the terminal")?;
    let _ = execute!(stdout(), EnableMouseCapture, EnableBracketedPaste);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
        hook(info);
    }));
    let result = event_loop(&mut terminal, &mut node, kept, prefs).await;
    // Leave the group first, whatever ended the loop: if the terminal is gone (window closed,
    // SSH dropped) peers must still hear the leave. The task stops once the leave is sent.
    let _ = node.command(Command::Leave).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), &mut node.task).await;
    // Restoring a terminal that is gone fails; there is nothing left to restore then.
    let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
    let _ = ratatui::try_restore();
    match result {
        Ok(()) => Ok(()),
        // The terminal went away under us: the user closed it; that is a normal way out.
        Err(e) if terminal_gone(&e) => Ok(()),
        Err(e) => Err(color_eyre::Report::new(e).wrap_err("terminal error")),
    }
}

/// The messages shown since the last call go to the history file; if it cannot be written,
/// the screen says so once and keeps nothing more.
fn keep_history(app: &mut App, history: &mut Option<History>) {
    let failed = match (history.as_mut(), app.messages.to_keep()) {
        (Some(h), Some(keep)) => {
            let r = h.add(keep.iter());
            keep.clear();
            r.err()
        }
        _ => None,
    };
    if let Some(e) = failed {
        app.messages.stop_keeping();
        *history = None;
        update(app, Msg::Failed(format!("{e}; the conversation is no longer kept")));
    }
}

/// Errors that mean the terminal itself is gone (hung up, closed), not a fault.
fn terminal_gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, NotConnected, UnexpectedEof, WriteZero};
    matches!(e.kind(), BrokenPipe | UnexpectedEof | NotConnected | WriteZero) || e.raw_os_error() == Some(5) // EIO
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    node: &mut NodeHandle,
    kept: Option<history::Opened>,
    prefs: app::Prefs,
) -> std::io::Result<()> {
    let size = terminal.size()?;
    let tz = *chrono::Local::now().offset();
    let mut app = App::new(net::now(), tz, (size.width, size.height));
    app.prefs = prefs;
    let history = kept.map(|k| {
        app.kept_earlier(&k.earlier, &k.path, k.note(), k.history.is_some());
        k.history
    });
    let mut history = history.flatten();
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            terminal.draw(|f| view::render(&app, f))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let mut actions = Vec::new();
        tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(ev)) => {
                    actions.extend(update(&mut app, Msg::Terminal(ev)));
                    dirty = true;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            ev = node.events.recv() => match ev {
                Some(ev) => {
                    // The screen's own lines are timed from the monotonic clock: read it now, not
                    // only on the once-a-second tick, so a line lands after what came before it.
                    update(&mut app, Msg::Tick(net::now()));
                    actions.extend(update(&mut app, Msg::Net(ev)));
                    // Take what else is waiting, so a flood costs one redraw, not one per packet.
                    for _ in 0..BATCH {
                        match node.events.try_recv() {
                            Ok(ev) => actions.extend(update(&mut app, Msg::Net(ev))),
                            Err(_) => break,
                        }
                    }
                    // What the batch showed goes to the history file in one write.
                    keep_history(&mut app, &mut history);
                    // One bell for a batch, however many mentions it held.
                    let mut rung = false;
                    actions.retain(|a| a != &Action::Bell || !std::mem::replace(&mut rung, true));
                    dirty = true;
                }
                None => return Ok(()),
            },
            _ = tick.tick() => {
                update(&mut app, Msg::Tick(net::now()));
                dirty = true;
            }
            () = tokio::time::sleep_until(last_draw + FRAME), if dirty => {}
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => return Ok(()),
        }
        for action in actions {
            match action {
                Action::Quit => return Ok(()),
                Action::Bell => {
                    let mut out = stdout();
                    out.write_all(b"\x07")?;
                    out.flush()?;
                }
                Action::Save(path, lines) => {
                    let n = lines.lines().count();
                    let said = match std::fs::write(&path, lines) {
                        Ok(()) => Msg::Saved(format!("saved {n} messages to {}", path.display())),
                        Err(e) => Msg::Failed(format!("cannot save to {}: {e}", path.display())),
                    };
                    update(&mut app, said);
                    dirty = true;
                }
                Action::Mouse(on) => {
                    if on {
                        execute!(stdout(), EnableMouseCapture)?;
                    } else {
                        execute!(stdout(), DisableMouseCapture)?;
                    }
                }
                Action::Send(cmd) => {
                    if let Err(e) = node.command(cmd).await {
                        update(&mut app, Msg::Failed(e.to_string()));
                    }
                }
            }
        }
    }
}
