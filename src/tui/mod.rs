//! The terminal UI: `app` (model and update), `view` (pure render), and here the loop that
//! feeds terminal and network events to `update`, coalesces redraws, and restores the terminal
//! on every way out.

pub mod app;
pub mod view;

use std::io::stdout;
use std::time::Duration;

use futures::StreamExt;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use ratatui::crossterm::execute;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::cli::NetConfig;
use crate::headless::{UserError, start_node};
use crate::net::{self, NodeHandle};
use crate::proto::{self, Command};
use app::{Action, App, Msg, update};

/// At most this many redraws a second; only when something changed.
const FRAME: Duration = Duration::from_millis(16);
/// Network events taken in one go before the screen gets a chance to redraw.
const BATCH: usize = 2048;

pub async fn run(netcfg: NetConfig, cfg: proto::Config) -> Result<(), UserError> {
    // Join first: a setup error is printed on a normal terminal, as one line.
    let mut node = start_node(&netcfg, cfg)?;
    let mut terminal = ratatui::init();
    let _ = execute!(stdout(), EnableMouseCapture);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(stdout(), DisableMouseCapture);
        hook(info);
    }));
    let result = event_loop(&mut terminal, &mut node).await;
    let _ = execute!(stdout(), DisableMouseCapture);
    ratatui::restore();
    // Leave the group whatever ended the loop; the task stops once the leave is sent.
    let _ = node.command(Command::Leave).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), &mut node.task).await;
    result.map_err(|e| UserError(format!("terminal error: {e}")))
}

async fn event_loop(terminal: &mut DefaultTerminal, node: &mut NodeHandle) -> std::io::Result<()> {
    let size = terminal.size()?;
    let tz = *chrono::Local::now().offset();
    let mut app = App::new(net::wall_now(), tz, (size.width, size.height));
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
                    update(&mut app, Msg::Net(ev));
                    // Take what else is waiting, so a flood costs one redraw, not one per packet.
                    for _ in 0..BATCH {
                        match node.events.try_recv() {
                            Ok(ev) => { update(&mut app, Msg::Net(ev)); }
                            Err(_) => break,
                        }
                    }
                    dirty = true;
                }
                None => return Ok(()),
            },
            _ = tick.tick() => {
                update(&mut app, Msg::Tick(net::wall_now()));
                dirty = true;
            }
            _ = tokio::time::sleep_until(last_draw + FRAME), if dirty => {}
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => return Ok(()),
        }
        for action in actions {
            match action {
                Action::Quit => return Ok(()),
                Action::Send(cmd) => {
                    if let Err(e) = node.command(cmd).await {
                        update(&mut app, Msg::Failed(e.to_string()));
                    }
                }
            }
        }
    }
}
